// The names asked of a blocklist (RFC 5782 §2.1, §2.4) and what its answers mean.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classifyAnswer, queryName } from '../../../src/dnsbl/dnsbl-query.js';

test('query names: IPv4 octets and IPv6 nibbles reversed under the zone', () => {
  const cases: [string, string | null][] = [
    ['192.0.2.99', '99.2.0.192.bl.test'],
    ['127.0.0.2', '2.0.0.127.bl.test'],
    // RFC 5782 §2.4's example address.
    ['2001:db8:1:2:3:4:567:89ab', 'b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.bl.test'],
    ['2001:db8::1', `1.${'0.'.repeat(23)}8.b.d.0.1.0.0.2.bl.test`],
    ['::1', `1.${'0.'.repeat(31)}bl.test`],
    ['::ffff:192.0.2.1', `1.0.2.0.0.0.0.c.f.f.f.f.${'0.'.repeat(20)}bl.test`],
    ['fe80::1%eth0', `1.${'0.'.repeat(27)}0.8.e.f.bl.test`],
    ['not an address', null],
  ];
  for (const [ip, name] of cases) assert.equal(queryName(ip, 'bl.test'), name, ip);
});

test('answers: 127.0.0.0/8 lists, a filter narrows it, anything else cannot be trusted', () => {
  const cases: [readonly string[], readonly string[] | null, ReturnType<typeof classifyAnswer>][] = [
    [['127.0.0.2'], null, { kind: 'listed', code: '127.0.0.2' }],
    [['127.0.0.10', '127.0.0.4'], null, { kind: 'listed', code: '127.0.0.10' }],
    [['127.0.0.10', '127.0.0.4'], ['127.0.0.2', '127.0.0.4'], { kind: 'listed', code: '127.0.0.4' }],
    [['127.0.0.10'], ['127.0.0.2', '127.0.0.4'], { kind: 'clear' }],
    [[], null, { kind: 'clear' }],
    // Spamhaus: public resolver, over quota, typo in the query.
    [['127.255.255.254'], null, { kind: 'unusable', code: '127.255.255.254' }],
    [['127.255.255.255'], ['127.255.255.255'], { kind: 'unusable', code: '127.255.255.255' }],
    [['127.0.0.2', '127.255.255.252'], null, { kind: 'unusable', code: '127.255.255.252' }],
    // A resolver that answers every name (NXDOMAIN rewriting) with its web server.
    [['198.51.100.7'], null, { kind: 'unusable', code: '198.51.100.7' }],
  ];
  for (const [addresses, codes, meaning] of cases) assert.deepEqual(classifyAnswer(addresses, codes), meaning, `${addresses.join(',')} / ${codes?.join(',')}`);
});
