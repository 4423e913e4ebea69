// Outbound TLS policies over sockets: a DNS server on loopback setting the AD bit, a test CA, SMTP peers on 127.0.0.x
// with its certificates, an MTA-STS policy server; each case decides the hosts' policies, then walks the MX hosts as
// the courier will (connect, EHLO, STARTTLS, check, send or move on) and looks at who received what, and in what.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DnsResolver } from '../../../../src/dns/dns-resolver.js';
import { silentLogger } from '../../../../src/observability/logger.js';
import type { TlsPolicySettings } from '../../../../src/outbound/tls-policy/host-policy.js';
import { createOutboundTls, type OutboundTls } from '../../../../src/outbound/tls-policy/outbound-tls.js';
import { checkBeforeConnect, checkTls, type TlsOutcome, type TlsVerdict } from '../../../../src/outbound/tls-policy/tls-check.js';
import { tlsaFor } from '../../../../src/outbound/tls-policy/tlsa.js';
import { RemoteReplyError, TlsHandshakeError } from '../../../../src/smtp/client/client-errors.js';
import { type ClientTimeouts, SmtpClient } from '../../../../src/smtp/client/smtp-client.js';
import { type DnsServer, startDnsServer, type ZoneEntry, type ZoneTlsa } from '../../../helpers/dns-server.js';
import { type PolicyServer, startPolicyServer } from '../../../helpers/policy-server.js';
import { freePort, type SmtpPeer, startSmtpPeer } from '../../../helpers/smtp-peer.js';
import { createTestCa, type IssuedCert, type TestCa, writeCaFile } from '../../../helpers/test-ca.js';
import { testCert } from '../../../helpers/test-cert.js';

const timeouts: ClientTimeouts = { connect: 2000, greeting: 3000, command: 3000, dataInit: 3000, dataBlock: 3000, dataEnd: 3000 };

/** The peers: one per kind of certificate, each on its own loopback address, all on one port. */
const PEERS = {
  valid: '127.0.0.41', // *.valid.mx.test, from the trusted intermediate (chain sent)
  untrusted: '127.0.0.42', // *.untrusted.mx.test, from a CA nobody trusts
  wrongname: '127.0.0.43', // someone-else.test, from the trusted intermediate
  expired: '127.0.0.44', // *.expired.mx.test, expired yesterday
  selfsigned: '127.0.0.45', // the self-signed "localhost" test certificate
  plain: '127.0.0.46', // no STARTTLS (stripped by an attacker, say)
} as const;
type Peer = keyof typeof PEERS;

interface Attempt {
  readonly host: string;
  readonly verdict: TlsVerdict;
}
interface Delivery {
  /** The host that took the message, or null: every host refused (the message would be deferred). */
  readonly deliveredBy: string | null;
  readonly attempts: readonly Attempt[];
}

describe('outbound TLS policy, end to end over sockets', () => {
  let dir = '';
  let port = 0;
  let dns: DnsServer;
  let resolver: DnsResolver;
  let root: TestCa;
  let sub: TestCa;
  let stranger: TestCa;
  const certs = {} as Record<Peer, IssuedCert | null>;
  const peers = {} as Record<Peer, SmtpPeer>;
  let policyServer: PolicyServer;
  let selfsigned: { x509: X509Certificate };
  const policies = new Map<string, string>();
  const zone: Record<string, ZoneEntry> = {};

  /** `label.peer.mx.test` resolves (securely) to the peer's address. */
  const host = (label: string, peer: Peer): string => {
    const name = `${label}.${peer}.mx.test`;
    zone[name] = { A: [PEERS[peer]], ad: true };
    return name;
  };
  const tlsaAt = (name: string, records: ZoneTlsa[], ad = true): void => {
    zone[`_${port}._tcp.${name}`] = { TLSA: records, ad };
  };
  const ee = (c: { readonly x509: X509Certificate }): ZoneTlsa => ({ ...tlsaFor(c.x509, 3, 1, 1) });
  const ta = (ca: TestCa): ZoneTlsa => ({ ...tlsaFor(ca.x509, 2, 1, 1) });
  const domain = (name: string, mx: string[], ad = true): string => {
    zone[name] = { MX: mx.map((exchange, i) => ({ exchange, priority: 10 * (i + 1) })), ad };
    return name;
  };
  const stsDomain = (name: string, mx: string[], policy: string): string => {
    zone[`_mta-sts.${name}`] = { TXT: [`v=STSv1; id=${name.replace(/[^a-z0-9]/g, '')}1;`] };
    zone[`mta-sts.${name}`] = { A: ['127.0.0.40'] };
    policies.set(`mta-sts.${name}`, policy);
    return domain(name, mx, false);
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'facteur-tls-policy-'));
    port = await freePort('127.0.0.41');
    root = await createTestCa('policy test root');
    sub = await root.intermediate('policy test intermediate');
    stranger = await createTestCa('untrusted root');
    await writeCaFile(dir, [root]);
    certs.valid = await sub.issue(['*.valid.mx.test']);
    certs.untrusted = await stranger.issue(['*.untrusted.mx.test']);
    certs.wrongname = await sub.issue(['someone-else.test']);
    certs.expired = await sub.issue(['*.expired.mx.test'], { notBefore: new Date(Date.now() - 3 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) });
    certs.selfsigned = null;
    selfsigned = { x509: new X509Certificate((await testCert()).cert) };
    certs.plain = null;
    for (const peer of Object.keys(PEERS) as Peer[]) {
      const cert = certs[peer];
      peers[peer] = await startSmtpPeer({
        host: PEERS[peer],
        port,
        name: `${peer}.mx.test`,
        starttls: peer !== 'plain',
        ...(cert !== null ? { certificate: { cert: cert.chain, key: cert.key } } : {}),
      });
    }
    const stsNames = ['sts-enforce.test', 'sts-stripped.test', 'sts-untrusted.test', 'sts-testing.test', 'both.test'].map((d) => `mta-sts.${d}`);
    policyServer = await startPolicyServer({
      host: '127.0.0.40',
      cert: await root.issue(stsNames),
      handle: (req, res) => {
        const policy = policies.get(String(req.headers.host).replace(/:\d+$/, ''));
        if (policy === undefined) res.writeHead(404).end();
        else res.writeHead(200, { 'content-type': 'text/plain' }).end(policy);
      },
    });
    dns = await startDnsServer(zone);
    resolver = new DnsResolver({ servers: [dns.address], timeoutMs: 2000 });
  });
  after(async () => {
    await Promise.all(Object.values(peers).map((p) => p.close()));
    await policyServer.close();
    await dns.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** What the courier gets from the config: one OutboundTls per (outbound.tls, outbound.dane) pair used here. */
  const built = new Map<string, Promise<OutboundTls>>();
  const outboundTls = (tls: TlsPolicySettings['tls'], dane: boolean): Promise<OutboundTls> => {
    const key = `${tls} ${dane}`;
    let made = built.get(key);
    if (made === undefined) {
      made = createOutboundTls({
        config: { tls, caFile: join(dir, 'ca.pem'), mtaSts: true, dane, smtpPort: port },
        dataDir: join(dir, key.replace(' ', '-')),
        dns: resolver,
        logger: silentLogger(),
        httpsPort: policyServer.port,
      });
      built.set(key, made);
    }
    return made;
  };

  /**
   * The courier's walk, as the wiring recipe describes it: decide, then per host: skip?, connect, EHLO, STARTTLS
   * with the policy's options, check, then send (or move on). Plain text only where the verdict allows.
   */
  async function deliver(to: string, settings: Partial<TlsPolicySettings> = {}, dane = true): Promise<Delivery> {
    const tls = await outboundTls(settings.tls ?? 'opportunistic', dane);
    const mx = (await resolver.mx(to)).records.map((r) => r.exchange);
    const decision = await tls.decide(to, mx);
    const attempts: Attempt[] = [];
    for (const p of decision.hosts) {
      const refused = checkBeforeConnect(p);
      if (refused !== null) {
        attempts.push({ host: p.host, verdict: refused });
        continue;
      }
      const ip = (await resolver.a(p.host)).records[0] as string;
      let client = await SmtpClient.connect({ host: ip, port, localHostname: 'relay.test', timeouts });
      await client.ehlo();
      let outcome: TlsOutcome;
      if (!client.capabilities.starttls) outcome = { kind: 'no-starttls', detail: `${p.host} does not offer STARTTLS` };
      else {
        try {
          outcome = { kind: 'tls', info: await client.startTls(tls.startTlsOptions(p)) };
        } catch (err) {
          if (err instanceof RemoteReplyError) outcome = { kind: 'no-starttls', detail: `STARTTLS refused: ${err.message}` };
          else if (err instanceof TlsHandshakeError) outcome = { kind: 'handshake-failed', detail: err.message };
          else throw err;
        }
      }
      const verdict = checkTls(p, outcome);
      attempts.push({ host: p.host, verdict });
      if (verdict.action === 'next-host') {
        client.close();
        continue;
      }
      if (verdict.action === 'retry-plain') {
        client.close();
        client = await SmtpClient.connect({ host: ip, port, localHostname: 'relay.test', timeouts });
        await client.ehlo();
      }
      const env = await client.envelope('sender@relay.test', [], [`rcpt@${to}`]);
      assert.equal(env.data?.code, 354);
      const final = await client.sendBody([Buffer.from(`Subject: to ${to}\n\nhello\n`)]);
      assert.equal(final.code, 250);
      await client.quit();
      return { deliveredBy: p.host, attempts };
    }
    return { deliveredBy: null, attempts };
  }

  /** The peer got this domain's message, and in TLS or not; or no MAIL at all for it. */
  const received = (peer: Peer, to: string): { secure: boolean } | null => {
    const m = peers[peer].messages.find((x) => x.to.includes(`rcpt@${to}`));
    return m === undefined ? null : { secure: m.secure };
  };
  const mailsFor = (to: string): number => Object.values(peers).reduce((n, p) => n + p.messages.filter((m) => m.to.includes(`rcpt@${to}`)).length, 0);
  const summary = (d: Delivery) => d.attempts.map((a) => ({ host: a.host, policy: a.verdict.policy, verified: a.verdict.verified, action: a.verdict.action, failure: a.verdict.failure }));

  // --- Certificate verification (outbound.tls = "verify", and opportunistic) -------------------------------------

  it('verify: a valid certificate for the MX name delivers, verified', async () => {
    const to = domain('verify-ok.test', [host('a', 'valid')]);
    const d = await deliver(to, { tls: 'verify' });
    assert.deepEqual(summary(d), [{ host: 'a.valid.mx.test', policy: 'verify', verified: true, action: 'proceed', failure: null }]);
    assert.deepEqual(received('valid', to), { secure: true });
  });

  for (const [peer, failure] of [
    ['untrusted', 'certificate-not-trusted'],
    ['wrongname', 'certificate-host-mismatch'],
    ['expired', 'certificate-expired'],
    ['selfsigned', 'certificate-not-trusted'],
  ] as const) {
    it(`verify: a ${peer} certificate is refused (${failure}); nothing is sent`, async () => {
      const to = domain(`verify-${peer}.test`, [host('a', peer)]);
      const d = await deliver(to, { tls: 'verify' });
      assert.equal(d.deliveredBy, null);
      assert.deepEqual(summary(d), [{ host: `a.${peer}.mx.test`, policy: 'verify', verified: false, action: 'next-host', failure }]);
      assert.equal(mailsFor(to), 0);
    });
  }

  it('opportunistic: an untrusted certificate still delivers in TLS, logged as not verified', async () => {
    const to = domain('opportunistic.test', [host('b', 'untrusted')]);
    const d = await deliver(to);
    assert.equal(d.deliveredBy, 'b.untrusted.mx.test');
    assert.equal(d.attempts[0]?.verdict.verified, false);
    assert.match(d.attempts[0]?.verdict.reason ?? '', /certificate not trusted \((UNABLE_TO_GET_ISSUER_CERT_LOCALLY|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE)\)/);
    assert.deepEqual(received('untrusted', to), { secure: true });
  });

  // --- DANE -------------------------------------------------------------------------------------------------------

  it('DANE-EE: a TLSA 3 1 1 record of a self-signed key delivers, verified; the name is not checked', async () => {
    const name = host('ee-ok', 'selfsigned');
    tlsaAt(name, [ee(selfsigned)]);
    const to = domain('dane-ee.test', [name]);
    const d = await deliver(to, { tls: 'verify' });
    assert.deepEqual(summary(d), [{ host: name, policy: 'dane', verified: true, action: 'proceed', failure: null }]);
    assert.deepEqual(received('selfsigned', to), { secure: true });
  });

  it('DANE-EE: a record of another key refuses the host; nothing is sent', async () => {
    const name = host('ee-bad', 'selfsigned');
    tlsaAt(name, [ee(certs.valid as IssuedCert)]);
    const to = domain('dane-ee-bad.test', [name]);
    const d = await deliver(to);
    assert.deepEqual(summary(d), [{ host: name, policy: 'dane', verified: false, action: 'next-host', failure: 'validation-failure' }]);
    assert.equal(mailsFor(to), 0);
  });

  it('DANE-TA: a TLSA 2 1 1 record of the intermediate the server sends delivers, verified', async () => {
    const name = host('ta-ok', 'valid');
    tlsaAt(name, [ta(sub)]);
    const to = domain('dane-ta.test', [name]);
    const d = await deliver(to);
    assert.deepEqual(summary(d), [{ host: name, policy: 'dane', verified: true, action: 'proceed', failure: null }]);
  });

  it('DANE-TA: another CA, or the right CA with a certificate for another name, refuses the host', async () => {
    const other = host('ta-other', 'valid');
    tlsaAt(other, [ta(stranger)]);
    const misnamed = host('ta-name', 'wrongname');
    tlsaAt(misnamed, [ta(sub)]);
    const d1 = await deliver(domain('dane-ta-other.test', [other]));
    const d2 = await deliver(domain('dane-ta-name.test', [misnamed]));
    assert.deepEqual([...summary(d1), ...summary(d2)], [
      { host: other, policy: 'dane', verified: false, action: 'next-host', failure: 'validation-failure' },
      { host: misnamed, policy: 'dane', verified: false, action: 'next-host', failure: 'certificate-host-mismatch' },
    ]);
    assert.equal(mailsFor('dane-ta-other.test') + mailsFor('dane-ta-name.test'), 0);
  });

  it('DANE: STARTTLS stripped by the peer defers, never plain text', async () => {
    const name = host('stripped', 'plain');
    tlsaAt(name, [ee(selfsigned)]);
    const to = domain('dane-stripped.test', [name]);
    const d = await deliver(to);
    assert.deepEqual(summary(d), [{ host: name, policy: 'dane', verified: false, action: 'next-host', failure: 'starttls-not-supported' }]);
    assert.equal(peers.plain.mails.filter((m) => m.from === 'sender@relay.test').length, 0, 'no MAIL in plain text');
    assert.equal(mailsFor(to), 0);
  });

  it('DANE: an unauthenticated TLSA answer is ignored (the host falls back to the next policy)', async () => {
    const name = host('insecure-tlsa', 'untrusted');
    tlsaAt(name, [ee(certs.valid as IssuedCert)], false);
    const to = domain('dane-insecure.test', [name]);
    const d = await deliver(to);
    assert.deepEqual(summary(d), [{ host: name, policy: 'opportunistic', verified: false, action: 'proceed', failure: 'certificate-not-trusted' }]);
    assert.deepEqual(received('untrusted', to), { secure: true });
  });

  it('DANE: an unauthenticated MX answer means no DANE at all (RFC 7672 §2.2)', async () => {
    const name = host('insecure-mx', 'untrusted');
    tlsaAt(name, [ee(certs.valid as IssuedCert)]);
    const to = domain('dane-insecure-mx.test', [name], false);
    const d = await deliver(to);
    assert.equal(d.attempts[0]?.verdict.policy, 'opportunistic');
    assert.equal(d.deliveredBy, name);
  });

  it('DANE off (outbound.dane = false): TLSA records are not even looked up', async () => {
    const name = host('dane-off', 'untrusted');
    tlsaAt(name, [ee(certs.valid as IssuedCert)]);
    const to = domain('dane-off.test', [name]);
    const before = dns.questions.length;
    const d = await deliver(to, {}, false);
    assert.equal(d.attempts[0]?.verdict.policy, 'opportunistic');
    assert.ok(!dns.questions.slice(before).some((q) => q.endsWith(' TLSA')), dns.questions.slice(before).join(', '));
  });

  it('DANE: the host that fails is skipped and the next MX takes the message, verified', async () => {
    const bad = host('fallback1', 'selfsigned');
    tlsaAt(bad, [ee(certs.valid as IssuedCert)]);
    const good = host('fallback2', 'valid');
    tlsaAt(good, [ee(certs.valid as IssuedCert)]);
    const to = domain('dane-fallback.test', [bad, good]);
    const d = await deliver(to);
    assert.deepEqual(summary(d), [
      { host: bad, policy: 'dane', verified: false, action: 'next-host', failure: 'validation-failure' },
      { host: good, policy: 'dane', verified: true, action: 'proceed', failure: null },
    ]);
    assert.equal(received('selfsigned', to), null);
    assert.deepEqual(received('valid', to), { secure: true });
  });

  it('DANE: a TLSA lookup that fails (SERVFAIL) skips that host, the next one delivers', async () => {
    const broken = host('servfail', 'selfsigned');
    zone[`_${port}._tcp.${broken}`] = { servfail: true };
    const next = host('after-servfail', 'valid');
    const to = domain('dane-servfail.test', [broken, next]);
    const d = await deliver(to);
    assert.deepEqual(summary(d), [
      { host: broken, policy: 'dane', verified: false, action: 'next-host', failure: 'dnssec-invalid' },
      { host: next, policy: 'opportunistic', verified: true, action: 'proceed', failure: null },
    ]);
    assert.equal(received('selfsigned', to), null);
  });

  // --- MTA-STS ----------------------------------------------------------------------------------------------------

  it('MTA-STS enforce: a host the policy does not list is not used; a listed one with a valid certificate is', async () => {
    const unlisted = host('x', 'wrongname');
    const listed = host('mx', 'valid');
    const to = stsDomain('sts-enforce.test', [unlisted, listed], `version: STSv1\nmode: enforce\nmx: *.valid.mx.test\nmax_age: 86400\n`);
    const d = await deliver(to);
    assert.deepEqual(summary(d), [
      { host: unlisted, policy: 'mta-sts', verified: false, action: 'next-host', failure: 'sts-mx-mismatch' },
      { host: listed, policy: 'mta-sts', verified: true, action: 'proceed', failure: null },
    ]);
    assert.equal(received('wrongname', to), null);
    assert.deepEqual(received('valid', to), { secure: true });
  });

  it('MTA-STS enforce: STARTTLS stripped, or an untrusted certificate, defers; nothing in plain text', async () => {
    const stripped = stsDomain('sts-stripped.test', [host('sts', 'plain')], 'version: STSv1\nmode: enforce\nmx: sts.plain.mx.test\nmax_age: 86400\n');
    const untrusted = stsDomain('sts-untrusted.test', [host('sts', 'untrusted')], 'version: STSv1\nmode: enforce\nmx: sts.untrusted.mx.test\nmax_age: 86400\n');
    const d1 = await deliver(stripped);
    const d2 = await deliver(untrusted);
    assert.deepEqual([...summary(d1), ...summary(d2)], [
      { host: 'sts.plain.mx.test', policy: 'mta-sts', verified: false, action: 'next-host', failure: 'starttls-not-supported' },
      { host: 'sts.untrusted.mx.test', policy: 'mta-sts', verified: false, action: 'next-host', failure: 'certificate-not-trusted' },
    ]);
    assert.equal(mailsFor(stripped) + mailsFor(untrusted), 0);
  });

  it('MTA-STS testing: a certificate for another name still delivers, reported', async () => {
    const name = host('testing', 'wrongname');
    const to = stsDomain('sts-testing.test', [name], `version: STSv1\nmode: testing\nmx: ${name}\nmax_age: 86400\n`);
    const d = await deliver(to);
    assert.deepEqual(summary(d), [{ host: name, policy: 'mta-sts', verified: false, action: 'proceed-report', failure: 'certificate-host-mismatch' }]);
    assert.deepEqual(received('wrongname', to), { secure: true });
  });

  it('DANE wins over MTA-STS for a host that has both', async () => {
    const name = host('both', 'selfsigned');
    tlsaAt(name, [ee(selfsigned)]);
    const to = stsDomain('both.test', [name], `version: STSv1\nmode: enforce\nmx: ${name}\nmax_age: 86400\n`);
    zone[to] = { ...zone[to], ad: true };
    const d = await deliver(to);
    assert.deepEqual(summary(d), [{ host: name, policy: 'dane', verified: true, action: 'proceed', failure: null }]);
  });
});
