// Outbound TLS policies through the whole relay: a message submitted on the relay port; MX, TLSA and TXT answers with
// the AD bit from a DNS server on loopback; a test CA; SMTP peers on 127.0.0.x with its certificates; MTA-STS policies
// over HTTPS on 127.0.0.50. What each peer received, the attempt lines, and `queue list`'s last error.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { tlsaFor } from '../../src/outbound/tls-policy/tlsa.js';
import type { ZoneTlsa } from '../helpers/dns-server.js';
import { startFacteur, type Facteur } from '../helpers/facteur.js';
import { startPolicyServer, type PolicyServer } from '../helpers/policy-server.js';
import { messageText, queueEntries, startRelayWorld, submit, type RelayWorld } from '../helpers/relay.js';
import { startScriptedPeer, type ScriptedPeer, type SmtpPeer } from '../helpers/smtp-peer.js';
import { createTestCa, writeCaFile, type IssuedCert, type TestCa } from '../helpers/test-ca.js';
import { testCert } from '../helpers/test-cert.js';

type LogEntry = Record<string, unknown>;

/** One peer per kind of certificate, each on its own loopback address, all on the world's port. */
const PEERS = {
  valid: '127.0.0.51', // *.valid.mx.test, from the trusted intermediate (chain sent)
  wrongname: '127.0.0.52', // someone-else.test, from the trusted intermediate
  untrusted: '127.0.0.53', // *.untrusted.mx.test, from a CA nobody trusts
  selfsigned: '127.0.0.54', // the self-signed "localhost" test certificate
} as const;
type Peer = keyof typeof PEERS;
/** The MTA-STS policy server (HTTPS, certificates from the test CA). */
const POLICY_HOST = '127.0.0.50';
/** Nothing listens here: a policy server that is down. */
const DEAD_HOST = '127.0.0.59';

/** What one submission led to: its first attempt's line, the per-host lines, and the recipient's state when queued. */
interface Sent {
  readonly id: string;
  readonly attempt: LogEntry;
  /** The courier's "delivery attempt" lines: one per address dialled (or host refused before connecting). */
  readonly hosts: readonly LogEntry[];
  readonly lastError: string | null;
  readonly status: string | null;
}

describe('outbound TLS policies through the relay', () => {
  let dir = '';
  let world: RelayWorld;
  let root: TestCa;
  let sub: TestCa;
  let stranger: TestCa;
  let policyServer: PolicyServer;
  /** tls = "opportunistic", dane = true, mta_sts on (the default). */
  let relay: Facteur;
  /** tls = "verify". */
  let strict: Facteur;
  const certs = {} as Record<Peer, IssuedCert | { readonly x509: X509Certificate }>;
  const peers = {} as Record<Peer, SmtpPeer>;
  const policies = new Map<string, string>();

  /** `label.peer.mx.test`, resolving to the peer's address (secure: the AD bit is set). */
  const host = (label: string, peer: Peer | string): string => {
    const name = `${label}.${peer}.mx.test`;
    world.zone[name] = { A: [peer in PEERS ? PEERS[peer as Peer] : peer], ad: true };
    return name;
  };
  /** `domain` MX 10, 20, … → hosts, the answer authenticated or not. */
  const domain = (name: string, hosts: readonly string[], ad = false): string => {
    world.zone[name] = { MX: hosts.map((exchange, i) => ({ exchange, priority: 10 * (i + 1) })), ad };
    return name;
  };
  const tlsa = (name: string, records: ZoneTlsa[], ad = true): void => {
    world.zone[`_${world.port}._tcp.${name}`] = { TLSA: records, ad };
  };
  const ee = (c: { readonly x509: X509Certificate }): ZoneTlsa => tlsaFor(c.x509, 3, 1, 1);
  const ta = (ca: TestCa): ZoneTlsa => tlsaFor(ca.x509, 2, 1, 1);
  /** A domain publishing an MTA-STS policy (`_mta-sts` TXT with `id`, the policy served for mta-sts.<domain>). */
  const stsDomain = (name: string, hosts: readonly string[], policy: string, id = 'v1'): string => {
    world.zone[`_mta-sts.${name}`] = { TXT: [`v=STSv1; id=${id};`], ttl: 0 };
    world.zone[`mta-sts.${name}`] = { A: [POLICY_HOST], ttl: 0 };
    policies.set(`mta-sts.${name}`, policy);
    return domain(name, hosts);
  };
  const enforce = (...mx: string[]): string => `version: STSv1\nmode: enforce\n${mx.map((m) => `mx: ${m}\n`).join('')}max_age: 86400\n`;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'facteur-tls-system-'));
    root = await createTestCa('relay test root');
    sub = await root.intermediate('relay test intermediate');
    stranger = await createTestCa('nobody trusts this root');
    const caFile = await writeCaFile(dir, [root]);
    world = await startRelayWorld();
    certs.valid = await sub.issue(['*.valid.mx.test']);
    certs.wrongname = await sub.issue(['someone-else.test']);
    certs.untrusted = await stranger.issue(['*.untrusted.mx.test']);
    certs.selfsigned = { x509: new X509Certificate((await testCert()).cert) };
    for (const peer of Object.keys(PEERS) as Peer[]) {
      const c = certs[peer];
      peers[peer] = await world.peer(PEERS[peer], { starttls: true, name: `${peer}.mx.test`, ...('chain' in c ? { certificate: { cert: c.chain, key: c.key } } : {}) });
    }
    const stsNames = ['sts-enforce.test', 'sts-unlisted.test', 'sts-testing.test', 'sts-stripped.test', 'sts-cached.test'].map((d) => `mta-sts.${d}`);
    policyServer = await startPolicyServer({
      host: POLICY_HOST,
      cert: await root.issue(stsNames),
      handle: (req, res) => {
        const policy = policies.get(String(req.headers.host).replace(/:\d+$/, ''));
        if (policy === undefined || req.url !== '/.well-known/mta-sts.txt') res.writeHead(404).end();
        else res.writeHead(200, { 'content-type': 'text/plain' }).end(policy);
      },
    });
    const toml = (lines: string): string => world.toml(`retry_min = "1h"\nretry_max = "2h"\nca_file = "${caFile}"\n${lines}`);
    const deps = { mtaStsPort: policyServer.port };
    relay = await startFacteur({ outbound: true, captureLog: true, toml: `hostname = "relay.test"\n${toml('dane = true')}`, deps });
    strict = await startFacteur({ outbound: true, captureLog: true, toml: `hostname = "relay.test"\n${toml('tls = "verify"')}`, deps });
  });
  after(async () => {
    await strict?.stop();
    await relay?.stop();
    await policyServer?.close();
    await world?.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Submits one message to `rcpt@<to>` from a sender of its own, and waits for its first attempt's line. */
  async function send(f: Facteur, to: string): Promise<Sent> {
    const mark = f.logs().length;
    const { id } = await submit(f.port('outbound'), { from: sender(to), to: [`rcpt@${to}`], raw: messageText(to) });
    const attempt = await f.waitForLog((e) => e.event === 'attempt' && e.id === id, 10_000, mark);
    const hosts = f.logs().slice(mark).filter((e) => e.msg === 'delivery attempt' && e.id === id);
    const recipient = (await queueEntries(f.config)).find((e) => e.id === id)?.recipients[0];
    return { id, attempt, hosts, lastError: recipient?.last_error ?? null, status: recipient?.status ?? null };
  }
  const sender = (to: string): string => `from-${to.replace(/\./g, '-')}@client.example`;
  /** The messages the peer received for this domain, and whether each came in TLS. */
  const got = (peer: Peer, to: string): boolean[] => peers[peer].messages.filter((m) => m.to.includes(`rcpt@${to}`)).map((m) => m.secure);
  /** MAIL commands the peer saw for this domain's message, whatever came next: none means it was given nothing. */
  const mails = (peer: Peer, to: string): number => peers[peer].mails.filter((m) => m.from === sender(to)).length;
  /** The TLS fields of a log line. */
  const tlsOf = (e: LogEntry | undefined) => ({ policy: e?.tls_policy, verified: e?.verified, failure: e?.tls_failure ?? null });
  const show = (t: TestContext, e: LogEntry): void => t.diagnostic(JSON.stringify(e));

  /** A server that leaves STARTTLS out of its EHLO reply (as an attacker on the path would), recording every line. */
  async function strippedPeer(address: string): Promise<ScriptedPeer> {
    const p = await startScriptedPeer({
      host: address,
      port: world.port,
      onCommand: (line) => {
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO') return '250-stripped.mx.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n';
        if (verb === 'QUIT') return '221 2.0.0 bye\r\n';
        if (verb === 'DATA') return '354 go on\r\n';
        return '250 2.0.0 ok\r\n';
      },
    });
    return p;
  }

  // --- Certificate verification: opportunistic and "verify" ------------------------------------------------------

  test('opportunistic: a valid certificate for the MX name is delivered in TLS, verified:true', async () => {
    const to = domain('opp-valid.test', [host('opp', 'valid')]);
    const s = await send(relay, to);
    assert.equal(s.attempt.outcome, 'sent');
    assert.deepEqual(tlsOf(s.attempt), { policy: 'opportunistic', verified: true, failure: null });
    assert.equal(s.attempt.tls_reason, undefined);
    assert.deepEqual(got('valid', to), [true]);
  });

  test('opportunistic: a certificate for another name is still delivered in TLS, verified:false with the reason', async (t) => {
    const to = domain('opp-wrongname.test', [host('opp', 'wrongname')]);
    const s = await send(relay, to);
    assert.equal(s.attempt.outcome, 'sent');
    assert.deepEqual(tlsOf(s.attempt), { policy: 'opportunistic', verified: false, failure: 'certificate-host-mismatch' });
    assert.equal(s.attempt.tls_reason, 'certificate is for someone-else.test, not opp.wrongname.mx.test');
    assert.deepEqual(got('wrongname', to), [true]);
    show(t, s.attempt);
  });

  test('opportunistic: an untrusted certificate is still delivered in TLS, verified:false (certificate-not-trusted)', async () => {
    const to = domain('opp-untrusted.test', [host('opp', 'untrusted')]);
    const s = await send(relay, to);
    assert.equal(s.attempt.outcome, 'sent');
    assert.deepEqual(tlsOf(s.attempt), { policy: 'opportunistic', verified: false, failure: 'certificate-not-trusted' });
    assert.match(String(s.attempt.tls_reason), /^certificate not trusted \(/);
    assert.deepEqual(got('untrusted', to), [true]);
  });

  test('tls = "verify": a valid certificate is delivered, verified:true', async (t) => {
    const to = domain('verify-valid.test', [host('verify', 'valid')]);
    const s = await send(strict, to);
    assert.equal(s.attempt.outcome, 'sent');
    assert.deepEqual(tlsOf(s.attempt), { policy: 'verify', verified: true, failure: null });
    assert.deepEqual(got('valid', to), [true]);
    show(t, s.attempt);
  });

  for (const [peer, failure, reason] of [
    ['wrongname', 'certificate-host-mismatch', /certificate is for someone-else\.test, not verify\.wrongname\.mx\.test/],
    ['untrusted', 'certificate-not-trusted', /certificate not trusted \([A-Z_]+\)/],
  ] as const) {
    test(`tls = "verify": a ${peer} certificate is refused; the message is deferred, the peer got no MAIL`, async () => {
      const to = domain(`verify-${peer}.test`, [host('verify', peer)]);
      const s = await send(strict, to);
      assert.equal(s.attempt.outcome, 'deferred');
      assert.equal(s.status, 'deferred');
      assert.deepEqual(tlsOf(s.attempt), { policy: 'verify', verified: false, failure });
      assert.match(s.lastError ?? '', new RegExp(`^TLS policy verify refused verify\\.${peer}\\.mx\\.test \\[${PEERS[peer].replace(/\./g, '\\.')}\\]:\\d+: ${reason.source} \\(${failure}\\)$`));
      assert.equal(mails(peer, to), 0);
    });
  }

  // --- MTA-STS ------------------------------------------------------------------------------------------------------

  test('MTA-STS enforce: the MX the policy does not list gets nothing; the listed one takes the message, verified', async (t) => {
    const unlisted = host('other', 'valid');
    const listed = host('mx', 'valid');
    const to = stsDomain('sts-enforce.test', [unlisted, listed], enforce(listed));
    const s = await send(relay, to);
    assert.equal(s.attempt.outcome, 'sent');
    assert.equal(s.attempt.relay, listed);
    assert.deepEqual(tlsOf(s.attempt), { policy: 'mta-sts', verified: true, failure: null });
    assert.deepEqual(s.hosts.map((h) => [h.host, h.ip, h.tls_policy, h.tls_failure ?? null]), [
      [unlisted, null, 'mta-sts', 'sts-mx-mismatch'],
      [listed, PEERS.valid, 'mta-sts', null],
    ]);
    assert.deepEqual(got('valid', to), [true]);
    assert.ok(policyServer.requests.includes('/.well-known/mta-sts.txt'));
    show(t, s.attempt);
  });

  test('MTA-STS enforce: when no MX matches the policy, the message is deferred with the refusal as last error', async () => {
    const to = stsDomain('sts-unlisted.test', [host('rogue', 'valid')], enforce('mx.sts-unlisted.test'));
    const s = await send(relay, to);
    assert.equal(s.attempt.outcome, 'deferred');
    assert.deepEqual(tlsOf(s.attempt), { policy: 'mta-sts', verified: false, failure: 'sts-mx-mismatch' });
    assert.equal(
      s.lastError,
      'TLS policy mta-sts refused rogue.valid.mx.test: rogue.valid.mx.test is not listed in the MTA-STS policy of the domain (mx: mx.sts-unlisted.test) (sts-mx-mismatch)',
    );
    assert.equal(mails('valid', to), 0);
  });

  test('MTA-STS testing: a certificate for another name is delivered, verified:false, and reported', async () => {
    const name = host('testing', 'wrongname');
    const to = stsDomain('sts-testing.test', [name], `version: STSv1\nmode: testing\nmx: ${name}\nmax_age: 86400\n`);
    const mark = relay.logs().length;
    const s = await send(relay, to);
    assert.equal(s.attempt.outcome, 'sent');
    assert.deepEqual(tlsOf(s.attempt), { policy: 'mta-sts', verified: false, failure: 'certificate-host-mismatch' });
    const report = relay.logs().slice(mark).find((e) => e.event === 'tls-policy-report' && e.id === s.id);
    assert.equal(report?.level, 40, 'a warning');
    assert.equal(report?.host, name);
    assert.deepEqual(got('wrongname', to), [true]);
  });

  test('MTA-STS enforce: STARTTLS stripped from the EHLO reply; deferred, and the peer received nothing past EHLO', async (t) => {
    const peer = await strippedPeer('127.0.0.56');
    t.after(() => peer.close());
    const name = host('stripped', '127.0.0.56');
    const to = stsDomain('sts-stripped.test', [name], enforce(name));
    const s = await send(relay, to);
    assert.equal(s.attempt.outcome, 'deferred');
    assert.deepEqual(tlsOf(s.attempt), { policy: 'mta-sts', verified: false, failure: 'starttls-not-supported' });
    assert.match(s.lastError ?? '', /^TLS policy mta-sts refused stripped\.127\.0\.0\.56\.mx\.test \[127\.0\.0\.56\]:\d+: no TLS: STARTTLS not offered \(starttls-not-supported\)$/);
    assert.deepEqual(peer.sessions.map((x) => x.lines), [['EHLO relay.test', 'QUIT']]);
    assert.deepEqual(peer.data, []);
  });

  test('MTA-STS: the policy server down while the TXT id changes: the cached policy still applies', async () => {
    // The policy lists mx only; a rogue MX with a better preference, which would take the message without a policy.
    const rogue = host('rogue-cached', 'untrusted');
    const listed = host('cached', 'valid');
    const to = stsDomain('sts-cached.test', [rogue, listed], enforce(listed), 'first');
    const first = await send(relay, to);
    assert.equal(first.attempt.relay, listed);
    // A new id, and the policy host now refuses connections: the fetch fails, the cached policy stays in force.
    world.zone[`_mta-sts.${to}`] = { TXT: ['v=STSv1; id=second;'], ttl: 0 };
    world.zone[`mta-sts.${to}`] = { A: [DEAD_HOST], ttl: 0 };
    const mark = relay.logs().length;
    const second = await send(relay, to);
    const failed = relay.logs().slice(mark).find((e) => e.msg === 'MTA-STS policy fetch failed' && e.domain === to);
    assert.equal(failed?.id, 'second');
    assert.equal(failed?.cached, 'first');
    assert.equal(second.attempt.outcome, 'sent');
    assert.equal(second.attempt.relay, listed);
    assert.deepEqual(tlsOf(second.attempt), { policy: 'mta-sts', verified: true, failure: null });
    assert.deepEqual(second.hosts.map((h) => [h.host, h.tls_failure ?? null]), [
      [rogue, 'sts-mx-mismatch'],
      [listed, null],
    ]);
    assert.equal(mails('untrusted', to), 0);
    assert.deepEqual(got('valid', to), [true, true]);
  });

  // --- DANE ---------------------------------------------------------------------------------------------------------

  test('DANE-EE (3 1 1): the self-signed key the record names is delivered, verified:true, the name unchecked', async (t) => {
    const name = host('ee', 'selfsigned');
    tlsa(name, [ee(certs.selfsigned)]);
    const to = domain('dane-ee.test', [name], true);
    const s = await send(relay, to);
    assert.equal(s.attempt.outcome, 'sent');
    assert.deepEqual(tlsOf(s.attempt), { policy: 'dane', verified: true, failure: null });
    assert.deepEqual(got('selfsigned', to), [true]);
    show(t, s.attempt);
  });

  test('DANE-EE (3 1 1): a record of another key refuses the host; deferred, the peer got no MAIL', async () => {
    const name = host('ee-bad', 'selfsigned');
    tlsa(name, [ee(certs.valid)]);
    const to = domain('dane-ee-bad.test', [name], true);
    const s = await send(relay, to);
    assert.equal(s.attempt.outcome, 'deferred');
    assert.deepEqual(tlsOf(s.attempt), { policy: 'dane', verified: false, failure: 'validation-failure' });
    assert.match(s.lastError ?? '', /^TLS policy dane refused ee-bad\.selfsigned\.mx\.test \[127\.0\.0\.54\]:\d+: DANE: .+ \(validation-failure\)$/);
    assert.equal(mails('selfsigned', to), 0);
  });

  test('DANE-TA (2 1 1): the intermediate the server sends, with the MX name in its certificate, is delivered, verified', async () => {
    const name = host('ta', 'valid');
    tlsa(name, [ta(sub)]);
    const to = domain('dane-ta.test', [name], true);
    const s = await send(relay, to);
    assert.equal(s.attempt.outcome, 'sent');
    assert.deepEqual(tlsOf(s.attempt), { policy: 'dane', verified: true, failure: null });
    assert.deepEqual(got('valid', to), [true]);
  });

  test('DANE-TA (2 1 1): a record of another CA refuses the host; deferred, the peer got no MAIL', async () => {
    const name = host('ta-bad', 'valid');
    tlsa(name, [ta(stranger)]);
    const to = domain('dane-ta-bad.test', [name], true);
    const s = await send(relay, to);
    assert.equal(s.attempt.outcome, 'deferred');
    assert.deepEqual(tlsOf(s.attempt), { policy: 'dane', verified: false, failure: 'validation-failure' });
    assert.match(s.lastError ?? '', /^TLS policy dane refused ta-bad\.valid\.mx\.test /);
    assert.equal(mails('valid', to), 0);
  });

  test('DANE: STARTTLS stripped from the EHLO reply; deferred, and the peer received nothing past EHLO', async (t) => {
    const peer = await strippedPeer('127.0.0.57');
    t.after(() => peer.close());
    const name = host('stripped', '127.0.0.57');
    tlsa(name, [ee(certs.selfsigned)]);
    const to = domain('dane-stripped.test', [name], true);
    const s = await send(relay, to);
    assert.equal(s.attempt.outcome, 'deferred');
    assert.deepEqual(tlsOf(s.attempt), { policy: 'dane', verified: false, failure: 'starttls-not-supported' });
    assert.match(s.lastError ?? '', /^TLS policy dane refused stripped\.127\.0\.0\.57\.mx\.test \[127\.0\.0\.57\]:\d+: no TLS: STARTTLS not offered \(starttls-not-supported\)$/);
    assert.deepEqual(peer.sessions.map((x) => x.lines), [['EHLO relay.test', 'QUIT']]);
    assert.deepEqual(peer.data, []);
    show(t, s.attempt);
  });

  test('DANE: a TLSA answer without the AD bit is ignored; opportunistic TLS delivers', async () => {
    const name = host('insecure-tlsa', 'untrusted');
    tlsa(name, [ee(certs.valid)], false);
    const to = domain('dane-insecure.test', [name], true);
    const s = await send(relay, to);
    assert.equal(s.attempt.outcome, 'sent');
    assert.deepEqual(tlsOf(s.attempt), { policy: 'opportunistic', verified: false, failure: 'certificate-not-trusted' });
    assert.deepEqual(got('untrusted', to), [true]);
  });

  test('DANE: the MX that fails its TLSA match is skipped; the next one takes the message, verified', async () => {
    const bad = host('fallback1', 'selfsigned');
    tlsa(bad, [ee(certs.valid)]);
    const good = host('fallback2', 'valid');
    tlsa(good, [ee(certs.valid)]);
    const to = domain('dane-fallback.test', [bad, good], true);
    const s = await send(relay, to);
    assert.equal(s.attempt.outcome, 'sent');
    assert.equal(s.attempt.relay, good);
    assert.deepEqual(tlsOf(s.attempt), { policy: 'dane', verified: true, failure: null });
    assert.deepEqual(s.hosts.map((h) => [h.host, h.step, h.tls_policy, h.verified, h.tls_failure ?? null]), [
      [bad, 'next-address', 'dane', false, 'validation-failure'],
      [good, 'done', 'dane', true, null],
    ]);
    assert.equal(mails('selfsigned', to), 0);
    assert.deepEqual(got('valid', to), [true]);
  });
});
