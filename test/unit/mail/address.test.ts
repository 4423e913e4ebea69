// The address grammar and its written form (mail/address.ts): formatting and keys, the configured-address and domain rules.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Address, addressKey, configuredAddress, domainProblem, formatAddress, isDotString } from '../../../src/mail/address.js';

describe('formatAddress and addressKey', () => {
  const cases: { a: Address | null; formatted: string; key?: string }[] = [
    { a: null, formatted: '' },
    { a: { local: 'a', domain: 'b.example' }, formatted: 'a@b.example' },
    { a: { local: 'A.B', domain: 'Example.ORG' }, formatted: 'A.B@Example.ORG', key: 'a.b@example.org' },
    { a: { local: 'postmaster', domain: '' }, formatted: 'postmaster', key: 'postmaster' },
    { a: { local: 'a b', domain: 'c.example' }, formatted: '"a b"@c.example' },
    { a: { local: 'a"b\\c', domain: 'c.example' }, formatted: '"a\\"b\\\\c"@c.example' },
    { a: { local: '', domain: 'c.example' }, formatted: '""@c.example' },
    { a: { local: '.a', domain: 'c.example' }, formatted: '".a"@c.example' },
    { a: { local: 'a..b', domain: 'c.example' }, formatted: '"a..b"@c.example' },
    { a: { local: 'a@b', domain: 'c.example' }, formatted: '"a@b"@c.example' },
    { a: { local: 'Jösé', domain: 'EXÄMPLE.org' }, formatted: 'Jösé@EXÄMPLE.org', key: 'jösé@exämple.org' },
    { a: { local: 'a', domain: '[IPv6:::1]' }, formatted: 'a@[IPv6:::1]', key: 'a@[ipv6:::1]' },
  ];
  for (const c of cases) {
    it(c.formatted === '' ? 'null' : c.formatted, () => {
      assert.equal(formatAddress(c.a), c.formatted);
      if (c.a !== null && c.key !== undefined) assert.equal(addressKey(c.a), c.key);
    });
  }
});

describe('configuredAddress', () => {
  const cases: [string, string | RegExp][] = [
    ['Alice@Example.ORG', 'Alice@example.org'],
    ['a.b+c@example.org', 'a.b+c@example.org'],
    ['jérôme@example.org', 'jérôme@example.org'],
    [`${'l'.repeat(64)}@example.org`, `${'l'.repeat(64)}@example.org`],
    ['bob', /is not an address/],
    ['@example.org', /is not an address/],
    ['bob@', /is not an address/],
    ['b..b@example.org', /invalid local part: letters/],
    ['.bob@example.org', /invalid local part: letters/],
    ['b ob@example.org', /invalid local part: letters/],
    ['b\u00a0ob@example.org', /invalid local part: letters/],
    ['"bob"@example.org', /invalid local part: letters/],
    [`${'l'.repeat(65)}@example.org`, /invalid local part: longer than 64 octets/],
  ];
  for (const [text, want] of cases) {
    it(text.length > 40 ? `${text.slice(0, 40)}…` : text, () => {
      const a = configuredAddress(text);
      if (typeof want === 'string') assert.deepEqual('problem' in a ? a.problem : a.text, want);
      else assert.match('problem' in a ? a.problem : 'accepted', want);
    });
  }
});

describe('domainProblem and isDotString', () => {
  it('domain names as a configuration gives them', () => {
    for (const ok of ['example.org', 'a-b.example', 'xn--bcher-kva.example', `${'d'.repeat(63)}.example`]) assert.equal(domainProblem(ok), null, ok);
    const bad: [string, RegExp][] = [
      ['', /is empty/],
      ['example..org', /empty label/],
      ['-a.example', /starts or ends with "-"/],
      ['exa_mple.org', /letters, digits and inner hyphens/],
      ['bücher.example', /letters, digits and inner hyphens/],
      [`${'d'.repeat(64)}.example`, /longer than 63 octets/],
      [`${'d.'.repeat(127)}org`, /longer than 253/],
      ['192.0.2.1', /numeric label/],
    ];
    for (const [name, want] of bad) assert.match(domainProblem(name) ?? 'accepted', want, name);
  });

  it('a dot-string: atext, UTF-8 but no separators or controls, single inner dots', () => {
    for (const ok of ['a', 'a.b', "!#$%&'*+-/=?^_`{|}~", 'jösé']) assert.equal(isDotString(ok), true, ok);
    for (const bad of ['', '.a', 'a.', 'a..b', 'a b', 'a\u00a0b', 'a\u0085b', 'a"b', 'a@b']) assert.equal(isDotString(bad), false, JSON.stringify(bad));
  });
});
