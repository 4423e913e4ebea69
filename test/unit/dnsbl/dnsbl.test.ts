// The blocklist check with a resolver in the test's hands: listings, caching with TTLs, timeouts, exempt networks.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Dnsbl, type Resolve4 } from '../../../src/dnsbl/dnsbl.js';
import { silentLogger } from '../../../src/observability/logger.js';

/** A resolver answering from a table: addresses (TTL 300), an error code, or 'hang' (never answers). */
function fakeResolver(table: Record<string, readonly string[] | string | 'hang'>): { resolve4: Resolve4; asked: string[] } {
  const asked: string[] = [];
  const resolve4: Resolve4 = (name) => {
    asked.push(name);
    const entry = table[name] ?? 'ENOTFOUND';
    if (entry === 'hang') return new Promise(() => undefined);
    if (typeof entry === 'string') return Promise.reject(Object.assign(new Error(`queryA ${entry} ${name}`), { code: entry }));
    return Promise.resolve(entry.map((address) => ({ address, ttl: 300 })));
  };
  return { resolve4, asked };
}

const lists = [{ zone: 'bl.test', codes: null }];

function dnsbl(resolve4: Resolve4, opts: Partial<ConstructorParameters<typeof Dnsbl>[0]> = {}): Dnsbl {
  return new Dnsbl({ lists, timeoutMs: 2000, resolve4, exempt: [], logger: silentLogger(), ...opts });
}

describe('Dnsbl', () => {
  test('a listed client: the zone and code; the refusal is 554 5.7.1 naming the list', async () => {
    const { resolve4 } = fakeResolver({ '7.2.0.192.bl.test': ['127.0.0.2'] });
    const d = dnsbl(resolve4);
    assert.deepEqual(await d.check('192.0.2.7'), { zone: 'bl.test', code: '127.0.0.2' });
    const refusal = await d.screen('192.0.2.7');
    assert.equal(refusal?.reply.code, 554);
    assert.equal(refusal?.reply.enhanced, '5.7.1');
    assert.equal(refusal?.reply.lines[0], 'Service unavailable; client [192.0.2.7] blocked using bl.test');
    assert.equal(refusal?.reason, 'listed on bl.test (127.0.0.2)');
  });

  test('not listed (NXDOMAIN, NODATA), or the list failing (SERVFAIL, refused): let in', async () => {
    const { resolve4 } = fakeResolver({ '2.2.0.192.bl.test': 'ENODATA', '3.2.0.192.bl.test': 'ESERVFAIL', '4.2.0.192.bl.test': 'ECONNREFUSED' });
    const d = dnsbl(resolve4);
    for (const ip of ['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.4']) assert.equal(await d.screen(ip), null, ip);
  });

  test('answers are cached for their TTL (at least a minute), negative ones for five minutes; failures are not', async () => {
    let now = 1_000_000;
    const { resolve4, asked } = fakeResolver({ '7.2.0.192.bl.test': ['127.0.0.2'], '9.2.0.192.bl.test': 'ETIMEOUT' });
    const d = dnsbl(resolve4, { now: () => now });
    await d.check('192.0.2.7');
    await d.check('192.0.2.8');
    await d.check('192.0.2.9');
    await d.check('192.0.2.7');
    await d.check('192.0.2.8');
    await d.check('192.0.2.9');
    assert.deepEqual(asked, ['7.2.0.192.bl.test', '8.2.0.192.bl.test', '9.2.0.192.bl.test', '9.2.0.192.bl.test']);
    now += 301_000; // past both the listing's TTL (300 s) and the negative answer's five minutes
    await d.check('192.0.2.7');
    await d.check('192.0.2.8');
    assert.equal(asked.length, 6);
  });

  test('concurrent sessions of one client share one lookup', async () => {
    const { resolve4, asked } = fakeResolver({ '7.2.0.192.bl.test': ['127.0.0.2'] });
    const d = dnsbl(resolve4);
    const hits = await Promise.all([d.check('192.0.2.7'), d.check('192.0.2.7'), d.check('192.0.2.7')]);
    assert.deepEqual(hits.map((h) => h?.zone), ['bl.test', 'bl.test', 'bl.test']);
    assert.equal(asked.length, 1);
  });

  test('a list that does not answer in time lets the client in', async () => {
    const { resolve4 } = fakeResolver({ '7.2.0.192.bl.test': 'hang' });
    assert.equal(await dnsbl(resolve4, { timeoutMs: 50 }).check('192.0.2.7'), null);
  });

  test('several lists: the one that lists wins, whatever the others do', async () => {
    const { resolve4, asked } = fakeResolver({ '7.2.0.192.slow.test': 'hang', '7.2.0.192.bl2.test': ['127.0.0.4'] });
    const d = dnsbl(resolve4, { lists: [{ zone: 'slow.test', codes: null }, { zone: 'bl.test', codes: null }, { zone: 'bl2.test', codes: null }] });
    assert.deepEqual(await d.check('192.0.2.7'), { zone: 'bl2.test', code: '127.0.0.4' });
    assert.equal(asked.length, 3);
  });

  test('return codes: a per-zone filter, and "do not trust me" answers neither list nor clear', async () => {
    const { resolve4 } = fakeResolver({
      '1.2.0.192.zen.test': ['127.0.0.10'],
      '2.2.0.192.zen.test': ['127.0.0.4'],
      '3.2.0.192.quota.test': ['127.255.255.254'],
      '4.2.0.192.wild.test': ['198.51.100.1'],
    });
    const d = dnsbl(resolve4, {
      lists: [{ zone: 'zen.test', codes: ['127.0.0.2', '127.0.0.4'] }, { zone: 'quota.test', codes: null }, { zone: 'wild.test', codes: null }],
    });
    assert.equal(await d.check('192.0.2.1'), null);
    assert.deepEqual(await d.check('192.0.2.2'), { zone: 'zen.test', code: '127.0.0.4' });
    assert.equal(await d.check('192.0.2.3'), null);
    assert.equal(await d.check('192.0.2.4'), null);
  });

  test('exempt networks and no lists: nothing is asked; IPv6 clients are asked by nibbles', async () => {
    const { resolve4, asked } = fakeResolver({});
    assert.equal(await dnsbl(resolve4, { exempt: ['192.0.2.0/24', '::1'] }).check('192.0.2.7'), null);
    assert.equal(await dnsbl(resolve4, { exempt: ['192.0.2.0/24', '::1'] }).check('::1'), null);
    assert.equal(await dnsbl(resolve4, { lists: [] }).check('198.51.100.1'), null);
    assert.deepEqual(asked, []);
    await dnsbl(resolve4).check('2001:db8::1');
    assert.deepEqual(asked, [`1.${'0.'.repeat(23)}8.b.d.0.1.0.0.2.bl.test`]);
  });

  test('a resolver giving bare addresses (no TTLs) is understood', async () => {
    const resolve4: Resolve4 = async () => ['127.0.0.2'];
    assert.deepEqual(await dnsbl(resolve4).check('192.0.2.7'), { zone: 'bl.test', code: '127.0.0.2' });
  });
});
