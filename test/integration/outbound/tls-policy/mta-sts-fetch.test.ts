// MTA-STS over sockets: the policy fetched from real HTTPS servers on 127.0.0.x with a test CA, names resolved by the
// loopback DNS; refusals (wrong name, untrusted, timeout, garbage, too big, redirect); the cached policy on failure.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DnsResolver } from '../../../../src/dns/dns-resolver.js';
import { lookupVia } from '../../../../src/dns/lookup.js';
import { MtaSts } from '../../../../src/outbound/tls-policy/mta-sts.js';
import { fetchStsPolicy, type StsFetchOptions, type StsFetchResult } from '../../../../src/outbound/tls-policy/sts-fetch.js';
import { StsPolicyStore } from '../../../../src/outbound/tls-policy/sts-store.js';
import { loadTrustStore, type TrustStore } from '../../../../src/outbound/tls-policy/trust-store.js';
import { type DnsServer, startDnsServer, type Zone } from '../../../helpers/dns-server.js';
import { type PolicyServer, startPolicyServer } from '../../../helpers/policy-server.js';
import { createTestCa, type TestCa, writeCaFile } from '../../../helpers/test-ca.js';

const POLICY = 'version: STSv1\nmode: enforce\nmx: mx1.good.test\nmx: *.pool.good.test\nmax_age: 86400\n';

/** One policy host per case: its name, address, certificate and behaviour. */
interface Case {
  readonly domain: string;
  readonly ip: string;
  /** The names in its certificate (default mta-sts.<domain>). */
  readonly certNames?: readonly string[];
  /** Signed by a CA we do not trust. */
  readonly untrusted?: boolean;
  readonly policy?: string;
  readonly handle?: Parameters<typeof startPolicyServer>[0]['handle'];
}

/** What the flaky.test policy host does at the moment. */
let flaky: 'serve' | 'hang' | 'garbage' = 'serve';

const cases: Case[] = [
  {
    domain: 'flaky.test',
    ip: '127.0.0.32',
    handle: (_q, res) => {
      if (flaky === 'serve') res.writeHead(200, { 'content-type': 'text/plain' }).end(POLICY.replace(/good\.test/g, 'flaky.test'));
      else if (flaky === 'garbage') res.writeHead(200, { 'content-type': 'text/plain' }).end('version: STSv1\nmode: enforce\n');
    },
  },
  { domain: 'good.test', ip: '127.0.0.21', policy: POLICY },
  { domain: 'wildcard.test', ip: '127.0.0.22', certNames: ['*.wildcard.test'], policy: POLICY },
  { domain: 'wrongname.test', ip: '127.0.0.23', certNames: ['mta-sts.other.test'], policy: POLICY },
  { domain: 'untrusted.test', ip: '127.0.0.24', untrusted: true, policy: POLICY },
  { domain: 'hang.test', ip: '127.0.0.25', handle: () => undefined },
  { domain: 'garbage.test', ip: '127.0.0.26', handle: (_q, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('<html>Welcome to nginx!</html>') },
  { domain: 'big.test', ip: '127.0.0.27', handle: (_q, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end(`${POLICY}${'x: y\n'.repeat(20_000)}`) },
  {
    domain: 'chunked.test',
    ip: '127.0.0.28',
    handle: (_q, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      for (let i = 0; i < 70; i++) res.write(`${'#'.repeat(1023)}\n`);
      res.end();
    },
  },
  { domain: 'redirect.test', ip: '127.0.0.29', handle: (_q, res) => res.writeHead(301, { location: 'https://mta-sts.good.test/.well-known/mta-sts.txt' }).end() },
  { domain: 'missing.test', ip: '127.0.0.30' },
  { domain: 'html.test', ip: '127.0.0.31', handle: (_q, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(POLICY) },
];

describe('MTA-STS policy fetch over HTTPS', () => {
  let dir = '';
  let dns: DnsServer;
  let ca: TestCa;
  let trust: TrustStore;
  const servers = new Map<string, PolicyServer>();
  const zone: Record<string, Zone[string]> = {};
  let resolver: DnsResolver;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'facteur-sts-fetch-'));
    ca = await createTestCa();
    const stranger = await createTestCa('a CA nobody trusts');
    trust = await loadTrustStore({ caFile: await writeCaFile(dir, [ca]), systemBundle: null });
    for (const c of cases) {
      const issuer = c.untrusted === true ? stranger : ca;
      const cert = await issuer.issue(c.certNames ?? [`mta-sts.${c.domain}`]);
      const server = await startPolicyServer({ host: c.ip, cert, ...(c.policy !== undefined ? { policy: c.policy } : {}), ...(c.handle !== undefined ? { handle: c.handle } : {}) });
      servers.set(c.domain, server);
      zone[`mta-sts.${c.domain}`] = { A: [c.ip] };
    }
    dns = await startDnsServer(zone);
    resolver = new DnsResolver({ servers: [dns.address], timeoutMs: 2000 });
  });
  after(async () => {
    await Promise.all([...servers.values()].map((s) => s.close()));
    await dns.close();
    await rm(dir, { recursive: true, force: true });
  });

  const options = (domain: string, extra: Partial<StsFetchOptions> = {}): StsFetchOptions => ({
    lookup: lookupVia(resolver),
    trust,
    port: servers.get(domain)?.port ?? 443,
    timeoutMs: 5000,
    ...extra,
  });
  const fetch = (domain: string, extra: Partial<StsFetchOptions> = {}): Promise<StsFetchResult> => fetchStsPolicy(domain, options(domain, extra));

  it('fetches and parses a policy from a host with a valid certificate', async () => {
    const r = await fetch('good.test');
    assert.deepEqual(r, { ok: true, policy: { mode: 'enforce', maxAge: 86400, mx: ['mx1.good.test', '*.pool.good.test'] } });
    assert.deepEqual(servers.get('good.test')?.requests, ['/.well-known/mta-sts.txt']);
  });

  it('accepts a wildcard certificate', async () => {
    assert.equal((await fetch('wildcard.test')).ok, true);
  });

  // [domain, failure, reason pattern, extra options]
  const refusals: [string, string, RegExp, Partial<StsFetchOptions>][] = [
    ['wrongname.test', 'sts-webpki-invalid', /certificate not valid: the certificate is for mta-sts\.other\.test, not mta-sts\.wrongname\.test/, {}],
    ['untrusted.test', 'sts-webpki-invalid', /certificate not valid/, {}],
    ['hang.test', 'sts-policy-fetch-error', /no policy within 300 ms/, { timeoutMs: 300 }],
    ['garbage.test', 'sts-policy-invalid', /invalid policy/, {}],
    ['big.test', 'sts-policy-fetch-error', /larger than 65536/, {}],
    ['chunked.test', 'sts-policy-fetch-error', /larger than 65536/, {}],
    ['redirect.test', 'sts-policy-fetch-error', /HTTP 301 redirect to https:\/\/mta-sts\.good\.test\/\.well-known\/mta-sts\.txt refused/, {}],
    ['missing.test', 'sts-policy-fetch-error', /HTTP 404/, {}],
    ['html.test', 'sts-policy-fetch-error', /content type "text\/html", not text\/plain/, {}],
    ['nohost.test', 'sts-policy-fetch-error', /ENOTFOUND/, {}],
  ];
  for (const [domain, failure, reason, extra] of refusals) {
    it(`refuses ${domain}: ${failure}`, async () => {
      const r = await fetch(domain, extra);
      assert.equal(r.ok, false, JSON.stringify(r));
      if (r.ok) return;
      assert.equal(r.failure, failure, r.reason);
      assert.match(r.reason, reason);
      assert.ok(r.reason.startsWith(`mta-sts.${domain}: `), r.reason);
    });
  }

  it('uses the cached policy when the policy host later times out or serves garbage, also after a restart', async () => {
    zone['_mta-sts.flaky.test'] = { TXT: ['v=STSv1; id=first;'], ttl: 0 };
    const store = new StsPolicyStore(join(dir, 'mta-sts'));
    const make = (timeoutMs: number): MtaSts => new MtaSts({ dns: resolver, store, fetch: (d) => fetchStsPolicy(d, options(d, { timeoutMs })) });
    const first = await make(2000).policyFor('flaky.test');
    assert.deepEqual({ source: first.source, id: first.policy?.id, mx: first.policy?.mx }, { source: 'fetched', id: 'first', mx: ['mx1.flaky.test', '*.pool.flaky.test'] });
    // A new id is announced, but the policy host now hangs: each new MtaSts is a restart, reading the disk.
    zone['_mta-sts.flaky.test'] = { TXT: ['v=STSv1; id=second;'], ttl: 0 };
    flaky = 'hang';
    const hung = await make(300).policyFor('flaky.test');
    assert.deepEqual({ source: hung.source, id: hung.policy?.id, mode: hung.policy?.mode, failure: hung.problem?.failure }, { source: 'cached', id: 'first', mode: 'enforce', failure: 'sts-policy-fetch-error' });
    assert.match(hung.problem?.reason ?? '', /no policy within 300 ms/);
    flaky = 'garbage';
    const garbled = await make(2000).policyFor('flaky.test');
    assert.deepEqual({ source: garbled.source, id: garbled.policy?.id, failure: garbled.problem?.failure }, { source: 'cached', id: 'first', failure: 'sts-policy-invalid' });
    flaky = 'serve';
    const back = await make(2000).policyFor('flaky.test');
    assert.deepEqual({ source: back.source, id: back.policy?.id }, { source: 'fetched', id: 'second' });
  });
});
