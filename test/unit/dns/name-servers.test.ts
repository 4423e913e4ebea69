// DNS server addresses as the config writes them, resolv.conf's nameserver lines, reverse names, the cache's bounds.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DnsCache } from '../../../src/dns/dns-cache.js';
import { parseNameServer, parseResolvConf } from '../../../src/dns/name-servers.js';
import { reverseName } from '../../../src/dns/records.js';

describe('parseNameServer', () => {
  const good: [string, string][] = [
    ['192.0.2.53', '192.0.2.53:53'],
    ['127.0.0.1:5353', '127.0.0.1:5353'],
    ['::1', '[::1]:53'],
    ['[::1]:5353', '[::1]:5353'],
    ['2001:db8::53', '[2001:db8::53]:53'],
  ];
  for (const [spec, text] of good) it(`reads ${spec}`, () => assert.equal(parseNameServer(spec).text, text));
  for (const bad of ['dns.example.org', '192.0.2.53:0', '192.0.2.53:70000', '[192.0.2.1]:53', '']) {
    it(`refuses ${JSON.stringify(bad)}`, () => assert.throws(() => parseNameServer(bad)));
  }
});

describe('parseResolvConf', () => {
  const cases: [string, string, string[]][] = [
    ['nameserver lines in order', 'nameserver 192.0.2.1\nnameserver 2001:db8::1\n', ['192.0.2.1:53', '[2001:db8::1]:53']],
    ['comments, other keywords and junk skipped', '# x\n; y\nsearch a.example\noptions ndots:2\nnameserver bogus\nnameserver 192.0.2.1 # z\n', ['192.0.2.1:53']],
    ['at most three, as glibc', 'nameserver 192.0.2.1\nnameserver 192.0.2.2\nnameserver 192.0.2.3\nnameserver 192.0.2.4\n', ['192.0.2.1:53', '192.0.2.2:53', '192.0.2.3:53']],
    ['none: the local host, as glibc', 'search a.example\n', ['127.0.0.1:53', '[::1]:53']],
    ['scoped link-local kept', 'nameserver fe80::1%eth0\n', ['[fe80::1%eth0]:53']],
  ];
  for (const [what, text, want] of cases) it(what, () => assert.deepEqual(parseResolvConf(text).map((s) => s.text), want));
});

describe('reverseName', () => {
  const cases: [string, string][] = [
    ['192.0.2.1', '1.2.0.192.in-addr.arpa'],
    ['2001:db8::1', `1.${'0.'.repeat(23)}8.b.d.0.1.0.0.2.ip6.arpa`],
    ['::ffff:192.0.2.1', `1.0.2.0.0.0.0.c.f.f.f.f.${'0.'.repeat(20)}ip6.arpa`],
  ];
  for (const [ip, name] of cases) it(ip, () => assert.equal(reverseName(ip), name));
});

describe('DnsCache', () => {
  it('forgets the least recently used entry past its size, and expired ones', () => {
    let now = 0;
    const cache = new DnsCache(2, () => now);
    const answer = { kind: 'records', records: [], name: 'x', authenticated: false } as const;
    cache.set('a', answer, 10);
    cache.set('b', answer, 10);
    assert.ok(cache.get('a') !== undefined); // a is now the most recently used
    cache.set('c', answer, 10);
    assert.equal(cache.get('b'), undefined);
    assert.ok(cache.get('a') !== undefined);
    cache.set('zero', answer, 0);
    assert.equal(cache.get('zero'), undefined, 'a TTL of 0 is not stored');
    now = 10_000;
    assert.equal(cache.get('a'), undefined);
    assert.equal(cache.size, 1);
  });
});
