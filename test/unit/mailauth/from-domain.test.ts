// The author domain of a header section: one From: field, its addresses' domain, whatever the display syntax.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { domainToASCII } from 'node:url';
import { AsciiDomains } from '../../../src/mailauth/ascii-domains.js';
import { authors, fromDomain, mailboxDomains } from '../../../src/mailauth/from-domain.js';

describe('mailboxDomains', () => {
  const cases: [string, (string | null)[]][] = [
    ['joe@example.org', ['example.org']],
    ['Joe <joe@Example.ORG>', ['example.org']],
    ['"Joe @ home" <joe@example.org>', ['example.org']],
    ['"evil@attacker.example" <joe@example.org>', ['example.org']],
    ['joe@example.org (Joe at attacker@evil.example)', ['example.org']],
    ['(comment (nested) @x.example) joe@example.org', ['example.org']],
    ['"Doe, John" <john@example.org>, jane@example.net', ['example.org', 'example.net']],
    ['team: a@example.org, b@example.net;', ['example.org', 'example.net']],
    ['<@relay.example:joe@example.org>', ['example.org']],
    ['=?utf-8?q?J=C3=B6?= <jo@example.org>', ['example.org']],
    ['jo@bücher.example', ['xn--bcher-kva.example']],
    ['joe@example.org.', ['example.org']],
    ['joe@[192.0.2.1]', [null]],
    ['undisclosed-recipients:;', []],
    ['just a name', [null]],
    ['"quoted@example.org"', [null]],
  ];
  for (const [value, want] of cases) {
    test(value, () => assert.deepEqual(mailboxDomains(value), want));
  }
  test('with the A-labels remembered (AsciiDomains), every case gives the same domains, twice', () => {
    const domains = new AsciiDomains();
    for (let round = 0; round < 2; round++) for (const [value, want] of cases) assert.deepEqual(mailboxDomains(value, domains.toAscii), want, value);
  });
  test('AsciiDomains gives what domainToASCII gives, refusals ("") included', () => {
    const domains = new AsciiDomains();
    for (const d of ['example.org', 'bücher.example', 'xn--zz.example', 'a.123', 'a..b', '-a.example', 'a_b.example', '0x10']) {
      assert.equal(domains.toAscii(d), domainToASCII(d), d);
      assert.equal(domains.toAscii(d), domainToASCII(d), `${d}, remembered`);
    }
  });
});

describe('fromDomain', () => {
  const h = (s: string) => Buffer.from(s);
  const cases: [string, string, string | null][] = [
    ['one From:', 'To: b@x.example\nFrom: Joe <joe@example.org>\n\nbody From: x@evil.example\n', 'example.org'],
    ['folded From:', 'From: Joe\n <joe@example.org>\n\n', 'example.org'],
    ['CRLF line endings', 'From: joe@example.org\r\n\r\n', 'example.org'],
    ['two authors of one domain', 'From: a@example.org, b@example.org\n\n', 'example.org'],
    ['two authors of two domains', 'From: a@example.org, b@example.net\n\n', null],
    ['two From: fields', 'From: a@example.org\nFrom: a@example.org\n\n', null],
    ['no From:', 'Subject: x\n\n', null],
    ['a From: without a domain', 'From: nobody\n\n', null],
    ['a field named like From is not From', 'From-Address: a@example.org\n\n', null],
  ];
  for (const [name, section, want] of cases) {
    test(name, () => assert.equal(fromDomain(h(section)), want));
  }

  test('authors counts the fields and lists every domain', () => {
    assert.deepEqual(authors(h('From: a@x.example\nFrom: b@y.example, c\n\n')), { fields: 2, domains: ['x.example', 'y.example', null] });
  });
});
