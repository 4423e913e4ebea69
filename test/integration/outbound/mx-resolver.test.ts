// MX resolution against a DNS server on loopback: order, implicit MX, null MX, NXDOMAIN, SERVFAIL, literals.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MAX_MX_HOSTS, MxResolver, type MxResult } from '../../../src/outbound/mx-resolver.js';
import { type DnsServer, startDnsServer, type Zone } from '../../helpers/dns-server.js';

const zone: Zone = {
  'ordered.test': {
    MX: [
      { exchange: 'mx3.ordered.test', priority: 30 },
      { exchange: 'mx1.ordered.test', priority: 10 },
      { exchange: 'mx2.ordered.test', priority: 20 },
    ],
  },
  'mx1.ordered.test': { A: ['192.0.2.1'], AAAA: ['2001:db8::1'] },
  'mx2.ordered.test': { A: ['192.0.2.2'] },
  'mx3.ordered.test': { AAAA: ['2001:db8::3'] },
  'equal.test': {
    MX: [
      { exchange: 'a.equal.test', priority: 10 },
      { exchange: 'b.equal.test', priority: 10 },
    ],
  },
  'a.equal.test': { A: ['192.0.2.10'] },
  'b.equal.test': { A: ['192.0.2.11'] },
  'implicit.test': { A: ['192.0.2.20', '192.0.2.21'], AAAA: ['2001:db8::20'] },
  'nothing.test': {},
  'nullmx.test': { MX: [{ exchange: '.', priority: 0 }] },
  'broken.test': { servfail: true },
  'half.test': {
    MX: [
      { exchange: 'gone.half.test', priority: 10 },
      { exchange: 'ok.half.test', priority: 20 },
    ],
  },
  'ok.half.test': { A: ['192.0.2.30'] },
  'lost.test': { MX: [{ exchange: 'sick.lost.test', priority: 10 }] },
  'sick.lost.test': { servfail: true },
  'dangling.test': { MX: [{ exchange: 'gone.dangling.test', priority: 10 }] },
  'many.test': { MX: Array.from({ length: 15 }, (_, i) => ({ exchange: `h${i}.many.test`, priority: i })) },
  ...Object.fromEntries(Array.from({ length: 15 }, (_, i) => [`h${i}.many.test`, { A: [`192.0.2.${100 + i}`] }])),
};

const hosts = (r: MxResult): { name: string; preference: number; addresses: readonly string[] }[] => {
  assert.equal(r.kind, 'hosts', JSON.stringify(r));
  return r.kind === 'hosts' ? r.hosts.map((h) => ({ ...h })) : [];
};

describe('MxResolver', () => {
  let dns: DnsServer;
  const resolver = (random?: () => number): MxResolver =>
    new MxResolver({ servers: [dns.address], timeoutMs: 1000, ...(random !== undefined ? { random } : {}) });

  before(async () => {
    dns = await startDnsServer(zone);
  });
  after(() => dns.close());

  it('orders MX hosts by preference, AAAA addresses before A', async () => {
    assert.deepEqual(hosts(await resolver().resolve('ordered.test')), [
      { name: 'mx1.ordered.test', preference: 10, addresses: ['2001:db8::1', '192.0.2.1'] },
      { name: 'mx2.ordered.test', preference: 20, addresses: ['192.0.2.2'] },
      { name: 'mx3.ordered.test', preference: 30, addresses: ['2001:db8::3'] },
    ]);
  });

  it('shuffles hosts of equal preference: both orders happen, chosen by the injected random', async () => {
    const first = hosts(await resolver(() => 0).resolve('equal.test')).map((h) => h.name);
    const second = hosts(await resolver(() => 0.99).resolve('equal.test')).map((h) => h.name);
    assert.deepEqual(new Set([first.join(), second.join()]), new Set(['a.equal.test,b.equal.test', 'b.equal.test,a.equal.test']));
  });

  it('uses the domain itself when it has no MX (implicit MX), AAAA then A', async () => {
    assert.deepEqual(hosts(await resolver().resolve('implicit.test')), [
      { name: 'implicit.test', preference: 0, addresses: ['2001:db8::20', '192.0.2.20', '192.0.2.21'] },
    ]);
  });

  it('is case-insensitive and ignores a final dot', async () => {
    assert.equal(hosts(await resolver().resolve('Implicit.TEST.')).length, 1);
  });

  it('fails permanently on a null MX (RFC 7505)', async () => {
    const r = await resolver().resolve('nullmx.test');
    assert.equal(r.kind, 'permanent');
    assert.match(r.kind === 'permanent' ? r.reason : '', /null MX/);
  });

  it('fails permanently on NXDOMAIN', async () => {
    const r = await resolver().resolve('no-such-domain.test');
    assert.equal(r.kind, 'permanent', JSON.stringify(r));
  });

  it('fails permanently when the domain has neither MX nor address', async () => {
    assert.equal((await resolver().resolve('nothing.test')).kind, 'permanent');
  });

  it('fails transiently on SERVFAIL, never permanently', async () => {
    const r = await resolver().resolve('broken.test');
    assert.equal(r.kind, 'transient', JSON.stringify(r));
  });

  it('fails transiently when the DNS server does not answer', async () => {
    const silent = new MxResolver({ servers: ['127.0.0.1:9'], timeoutMs: 200 });
    assert.equal((await silent.resolve('ordered.test')).kind, 'transient');
  });

  it('skips an MX host without address and keeps the others', async () => {
    assert.deepEqual(
      hosts(await resolver().resolve('half.test')).map((h) => h.name),
      ['ok.half.test'],
    );
  });

  it('is transient when the only MX host fails to resolve with SERVFAIL', async () => {
    assert.equal((await resolver().resolve('lost.test')).kind, 'transient');
  });

  it('is permanent when no MX host exists', async () => {
    assert.equal((await resolver().resolve('dangling.test')).kind, 'permanent');
  });

  it(`keeps at most ${MAX_MX_HOSTS} hosts, the most preferred`, async () => {
    const got = hosts(await resolver().resolve('many.test'));
    assert.equal(got.length, MAX_MX_HOSTS);
    assert.deepEqual(
      got.map((h) => h.preference),
      Array.from({ length: MAX_MX_HOSTS }, (_, i) => i),
    );
  });

  it('takes an address literal as is, without DNS', async () => {
    const asked = dns.questions.length;
    assert.deepEqual(hosts(await resolver().resolve('[192.0.2.55]')), [{ name: '[192.0.2.55]', preference: 0, addresses: ['192.0.2.55'] }]);
    assert.deepEqual(hosts(await resolver().resolve('[IPv6:::1]')), [{ name: '[IPv6:::1]', preference: 0, addresses: ['::1'] }]);
    assert.equal(dns.questions.length, asked);
  });

  it('refuses a malformed address literal permanently', async () => {
    for (const literal of ['[300.1.1.1]', '[IPv6:192.0.2.1]', '[::1]', '[tag:foo]', '[192.0.2.1']) {
      assert.equal((await resolver().resolve(literal)).kind, 'permanent', literal);
    }
  });
});
