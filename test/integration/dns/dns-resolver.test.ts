// The DNS stub resolver against a DNS server on loopback: record types, CNAMEs, the AD bit, TTL and negative
// caching, truncation then TCP, SERVFAIL, timeouts, NXDOMAIN, failover, and the node:dns-shaped adapter.
import assert from 'node:assert/strict';
import { Resolver } from 'node:dns/promises';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { DnsError } from '../../../src/dns/dns-error.js';
import { DnsResolver } from '../../../src/dns/dns-resolver.js';
import { lookupVia } from '../../../src/dns/lookup.js';
import { nodeStyleResolve } from '../../../src/dns/node-style-resolve.js';
import { type DnsServer, startDnsServer, type Zone } from '../../helpers/dns-server.js';

const TLSA_HEX = 'a'.repeat(64);
const longText = 'v=spf1 ' + Array.from({ length: 40 }, (_, i) => `ip4:192.0.2.${i}`).join(' ');

const zone: Zone = {
  'mail.test': { MX: [{ exchange: 'mx1.mail.test', priority: 10 }, { exchange: 'mx2.mail.test', priority: 20 }], ad: true, ttl: 300 },
  'mx1.mail.test': { A: ['192.0.2.1', '192.0.2.2'], AAAA: ['2001:db8::1'], ad: true },
  'mx2.mail.test': { A: ['192.0.2.3'] },
  '_25._tcp.mx1.mail.test': { TLSA: [{ usage: 3, selector: 1, matchingType: 1, data: TLSA_HEX }], ad: true },
  'txt.test': { TXT: ['v=STSv1; id=20240101;', ['first ', 'second']] },
  'alias.test': { CNAME: 'target.test', ad: true, ttl: 30 },
  'target.test': { A: ['192.0.2.50'], ad: true, ttl: 120 },
  'insecure-alias.test': { CNAME: 'target.test' },
  'dangling.test': { CNAME: 'nowhere.test' },
  'loop1.test': { CNAME: 'loop2.test' },
  'loop2.test': { CNAME: 'loop1.test' },
  '1.2.0.192.in-addr.arpa': { PTR: ['mx1.mail.test'] },
  'big.test': { TXT: Array.from({ length: 6 }, (_, i) => `${i} ${longText}`.slice(0, 250)) },
  'forced-tcp.test': { A: ['192.0.2.77'], truncate: true },
  'broken.test': { servfail: true },
  'slow.test': { silent: true },
  'empty.test': {},
};

describe('DnsResolver against a loopback DNS server', () => {
  let dns: DnsServer;
  let now = 1_000_000;
  const resolver = (extra: Partial<ConstructorParameters<typeof DnsResolver>[0]> = {}): DnsResolver =>
    new DnsResolver({ servers: [dns.address], timeoutMs: 2000, now: () => now, ...extra });

  before(async () => {
    dns = await startDnsServer(zone, { negativeTtl: 120 });
  });
  after(() => dns.close());

  it('reads MX, A, AAAA, TXT, TLSA and PTR records', async () => {
    const r = resolver();
    assert.deepEqual((await r.mx('mail.test')).records, [
      { exchange: 'mx1.mail.test', preference: 10 },
      { exchange: 'mx2.mail.test', preference: 20 },
    ]);
    assert.deepEqual((await r.a('mx1.mail.test')).records, ['192.0.2.1', '192.0.2.2']);
    assert.deepEqual((await r.aaaa('mx1.mail.test')).records, ['2001:db8::1']);
    assert.deepEqual((await r.txt('txt.test')).records, [['v=STSv1; id=20240101;'], ['first ', 'second']]);
    const tlsa = await r.tlsa('_25._tcp.mx1.mail.test');
    assert.equal(tlsa.records.length, 1);
    assert.deepEqual({ ...tlsa.records[0], data: tlsa.records[0]?.data.toString('hex') }, { usage: 3, selector: 1, matchingType: 1, data: TLSA_HEX });
    assert.deepEqual((await r.ptr('1.2.0.192.in-addr.arpa')).records, ['mx1.mail.test']);
  });

  it('says whether the answer was authenticated (the AD bit), and gives the TTL', async () => {
    const r = resolver();
    const secure = await r.mx('mail.test');
    assert.equal(secure.authenticated, true);
    assert.equal(secure.ttl, 300);
    assert.equal((await r.a('mx2.mail.test')).authenticated, false);
  });

  it('follows CNAMEs: records of the target, the smallest TTL, authenticated only if every step was', async () => {
    const r = resolver();
    const a = await r.a('alias.test');
    assert.deepEqual(a.records, ['192.0.2.50']);
    assert.equal(a.name, 'target.test');
    assert.equal(a.ttl, 30);
    assert.equal(a.authenticated, true);
    assert.equal((await r.a('insecure-alias.test')).authenticated, false);
    assert.deepEqual((await r.cname('alias.test')).records, ['target.test']);
    await assert.rejects(r.a('dangling.test'), (e: DnsError) => e.code === 'ENOTFOUND');
    await assert.rejects(r.a('loop1.test'), (e: DnsError) => e.temporary);
  });

  it('tells NXDOMAIN, NODATA, SERVFAIL, timeouts and bad names apart', async (t: TestContext) => {
    const r = resolver({ timeoutMs: 300, attempts: 1 });
    const cases: [string, () => Promise<unknown>, string, string][] = [
      ['NXDOMAIN', () => r.a('nonexistent.test'), 'ENOTFOUND', 'nxdomain'],
      ['NODATA', () => r.mx('empty.test'), 'ENODATA', 'nodata'],
      ['NODATA of one type', () => r.txt('mx2.mail.test'), 'ENODATA', 'nodata'],
      ['SERVFAIL', () => r.a('broken.test'), 'ESERVFAIL', 'temporary'],
      ['timeout', () => r.a('slow.test'), 'ETIMEOUT', 'temporary'],
      ['bad name', () => r.a('a..b'), 'EBADNAME', 'invalid'],
    ];
    for (const [what, run, code, kind] of cases) {
      await t.test(what, async () => {
        await assert.rejects(run(), (e: unknown) => {
          assert.ok(e instanceof DnsError, String(e));
          assert.equal(e.code, code);
          assert.equal(e.kind, kind);
          return true;
        });
      });
    }
  });

  it('caches answers for their TTL, then asks again', async () => {
    const r = resolver();
    const asked = (): number => dns.questions.filter((q) => q === 'target.test A').length;
    const before = asked();
    await r.a('target.test');
    now += 119_000;
    assert.equal((await r.a('target.test')).ttl, 1);
    assert.equal(asked(), before + 1);
    now += 2_000;
    await r.a('target.test');
    assert.equal(asked(), before + 2);
  });

  it('caches denials for the SOA negative TTL (RFC 2308), failures not at all', async () => {
    const r = resolver({ timeoutMs: 300, attempts: 1 });
    const count = (q: string): number => dns.questions.filter((x) => x === q).length;
    const start = count('never.test A');
    await assert.rejects(r.a('never.test'));
    await assert.rejects(r.a('never.test'), (e: DnsError) => e.code === 'ENOTFOUND' && e.ttl > 0);
    assert.equal(count('never.test A'), start + 1);
    now += 121_000;
    await assert.rejects(r.a('never.test'));
    assert.equal(count('never.test A'), start + 2);
    const servfails = count('broken.test A');
    await assert.rejects(r.a('broken.test'));
    await assert.rejects(r.a('broken.test'));
    assert.equal(count('broken.test A'), servfails + 2);
  });

  it('does not cache a denial without SOA', async (t: TestContext) => {
    const plain = await startDnsServer({});
    t.after(() => plain.close());
    const r = new DnsResolver({ servers: [plain.address], timeoutMs: 2000 });
    await assert.rejects(r.a('x.test'));
    await assert.rejects(r.a('x.test'));
    assert.equal(plain.questions.length, 2);
  });

  it('asks again over TCP when the UDP answer is truncated', async () => {
    const r = resolver();
    const big = await r.txt('big.test');
    assert.equal(big.records.length, 6);
    assert.ok(dns.tcpQuestions.includes('big.test TXT'), 'the too-big answer was fetched over TCP');
    assert.deepEqual((await r.a('forced-tcp.test')).records, ['192.0.2.77']);
    assert.ok(dns.tcpQuestions.includes('forced-tcp.test A'));
  });

  it('moves on to the next server when one does not answer', async () => {
    const r = new DnsResolver({ servers: ['127.0.0.1:9', dns.address], timeoutMs: 2000, attempts: 1 });
    assert.deepEqual((await r.a('target.test')).records, ['192.0.2.50']);
  });

  it('moves on to the next server when the socket cannot even be connected to the first (connect(2) fails)', async () => {
    // connect(2) on a UDP socket refuses a broadcast address (EACCES) at once, as it refuses a server with no route
    // (ENETUNREACH) or a link-local one without its interface (EINVAL). That error used to reach send() on the
    // unconnected socket, which threw from a tick: an uncaught exception in this process.
    const r = new DnsResolver({ servers: ['255.255.255.255', dns.address], timeoutMs: 2000, attempts: 1 });
    assert.deepEqual((await r.a('target.test')).records, ['192.0.2.50']);
    const alone = new DnsResolver({ servers: ['255.255.255.255'], timeoutMs: 2000, attempts: 1 });
    await assert.rejects(alone.a('target.test'), (err: unknown) => err instanceof DnsError && err.code === 'ECONNREFUSED' && /255\.255\.255\.255:53: EACCES/.test(err.message));
  });

  it('shares one query between concurrent lookups of the same question', async () => {
    const r = resolver();
    const before = dns.questions.filter((q) => q === 'mx2.mail.test A').length;
    await Promise.all([r.a('mx2.mail.test'), r.a('MX2.mail.test.'), r.a('mx2.mail.test')]);
    assert.equal(dns.questions.filter((q) => q === 'mx2.mail.test A').length, before + 1);
  });

  it('gives node:dns shapes and error codes through the adapter, as node:dns itself does', async () => {
    const ours = nodeStyleResolve(resolver({ timeoutMs: 300, attempts: 1 }));
    const node = new Resolver({ timeout: 300, tries: 1 });
    node.setServers([dns.address]);
    const questions: [string, string][] = [
      ['mail.test', 'MX'],
      ['mx1.mail.test', 'A'],
      ['mx1.mail.test', 'AAAA'],
      ['txt.test', 'TXT'],
      ['1.2.0.192.in-addr.arpa', 'PTR'],
      ['alias.test', 'CNAME'],
      ['alias.test', 'A'],
    ];
    for (const [name, type] of questions) {
      assert.deepEqual(await ours(name, type), await node.resolve(name, type), `${name} ${type}`);
    }
    const failures: [string, string][] = [
      ['nonexistent.test', 'A'],
      ['empty.test', 'MX'],
      ['broken.test', 'TXT'],
    ];
    for (const [name, type] of failures) {
      const code = async (p: Promise<unknown>): Promise<unknown> => p.then(() => 'resolved', (e: { code?: unknown }) => e.code);
      assert.equal(await code(ours(name, type)), await code(node.resolve(name, type)), `${name} ${type}`);
    }
    await assert.rejects(ours('slow.test', 'A'), { code: 'ETIMEOUT' });
    await assert.rejects(ours('x.test', 'BOGUS'), { code: 'ERR_INVALID_ARG_VALUE' });
  });

  it('resolves connection host names for node:net (AAAA first)', async () => {
    const lookup = lookupVia(resolver());
    const all = await new Promise((resolve, reject) => lookup('mx1.mail.test', { all: true }, (err, addresses) => (err ? reject(err) : resolve(addresses))));
    assert.deepEqual(all, [
      { address: '2001:db8::1', family: 6 },
      { address: '192.0.2.1', family: 4 },
      { address: '192.0.2.2', family: 4 },
    ]);
    const one = await new Promise((resolve, reject) => lookup('mx1.mail.test', { family: 4 }, (err, address, family) => (err ? reject(err) : resolve([address, family]))));
    assert.deepEqual(one, ['192.0.2.1', 4]);
    await assert.rejects(new Promise((resolve, reject) => lookup('nonexistent.test', {}, (err) => (err ? reject(err) : resolve(null)))), { code: 'ENOTFOUND' });
  });
});

describe('DnsResolver servers', () => {
  it("takes resolv.conf's nameservers when none is configured, and only then", async (t: TestContext) => {
    const dir = await mkdtemp(join(tmpdir(), 'facteur-resolv-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'resolv.conf');
    await writeFile(file, '# comment\nsearch example.org\nnameserver 192.0.2.53\nnameserver ::1\n');
    const system = new DnsResolver({ servers: [], resolvConf: file });
    assert.deepEqual((await system.nameServers()).map((s) => s.text), ['192.0.2.53:53', '[::1]:53']);
    const configured = new DnsResolver({ servers: ['127.0.0.1:5353'], resolvConf: file });
    assert.deepEqual((await configured.nameServers()).map((s) => s.text), ['127.0.0.1:5353']);
  });
});
