// The addresses of a From: field's value.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fromAddresses } from '../../../src/submission/from-addresses.js';

const cases: [string, string[] | null][] = [
  ['alice@example.org', ['alice@example.org']],
  ['Alice Smith <alice@example.org>', ['alice@example.org']],
  ['"Smith, Alice" <alice@example.org>', ['alice@example.org']],
  ['=?UTF-8?B?w4lsaXNl?= <elise@example.org>', ['elise@example.org']],
  ['alice@example.org (Alice (the (real) one))', ['alice@example.org']],
  ['Alice <alice@example.org>, bob@example.org', ['alice@example.org', 'bob@example.org']],
  ['a@x.example, , b@x.example', ['a@x.example', 'b@x.example']],
  ['Team: a@x.example, B <b@x.example>;', ['a@x.example', 'b@x.example']],
  ['<@relay.example,@other.example:alice@example.org>', ['alice@example.org']],
  ['"john doe"@example.org', ['john doe@example.org']],
  ['john.doe@example.org', ['john.doe@example.org']],
  ['Alice <alice@[192.0.2.1]>', ['alice@[192.0.2.1]']],
  ['alice@example.org <mallory@evil.example>', ['mallory@evil.example']],
  ['Élise <élise@exemple.fr>', ['élise@exemple.fr']],
  // Not readable: no address can be vouched for.
  ['', null],
  ['Alice', null],
  ['undisclosed-recipients:;', null],
  ['Smith, Alice <alice@example.org>', null],
  ['<alice@example.org', null],
  ['"unclosed <alice@example.org>', null],
  ['alice@example.org (unclosed', null],
  ['<alice@example.org> trailing', null],
  ['alice@@example.org', null],
  ['@example.org', null],
  ['alice@', null],
  ['alice@.example.org', null],
  ['<a@x.example> <b@x.example>', null],
];

for (const [value, want] of cases) {
  test(`From: ${JSON.stringify(value)}`, () => {
    const got = fromAddresses(value);
    assert.deepEqual(got === null ? null : got.map((a) => `${a.local}@${a.domain}`), want);
  });
}
