// MTA-STS parsers, table-driven from RFC 8461: the _mta-sts TXT record (§3.1), the policy file (§3.2), mx patterns (§4.1).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mxMatches, parseStsPolicy, type StsPolicy, StsPolicyError } from '../../../../src/outbound/tls-policy/sts-policy.js';
import { parseStsRecord, selectStsRecord } from '../../../../src/outbound/tls-policy/sts-record.js';

describe('the _mta-sts TXT record (RFC 8461 §3.1)', () => {
  const valid: [string, string, string, Record<string, string>][] = [
    ['the RFC example', 'v=STSv1; id=20160831085700Z;', '20160831085700Z', {}],
    ['no blanks, no final ";"', 'v=STSv1;id=abc', 'abc', {}],
    ['blanks around ";"', 'v=STSv1 ;\tid=abc ; ', 'abc', {}],
    ['an extension field', 'v=STSv1; id=abc; ext_1.x=some-value', 'abc', { 'ext_1.x': 'some-value' }],
    ['a repeated id: the first', 'v=STSv1; id=first; id=second', 'first', {}],
    ['32 characters of id', `v=STSv1; id=${'a1'.repeat(16)}`, 'a1'.repeat(16), {}],
  ];
  for (const [what, text, id, extensions] of valid) {
    it(`reads ${what}`, () => assert.deepEqual(parseStsRecord(text), { ok: true, record: { id, extensions } }));
  }
  const invalid: [string, string][] = [
    ['no id', 'v=STSv1;'],
    ['an empty id', 'v=STSv1; id='],
    ['an id of 33 characters', `v=STSv1; id=${'a'.repeat(33)}`],
    ['an id with a hyphen', 'v=STSv1; id=2016-08-31'],
    ['another version', 'v=STSv2; id=abc'],
    ['the version not first', 'id=abc; v=STSv1'],
    ['a version in capitals (case-sensitive)', 'V=STSv1; id=abc'],
    ['a field without "="', 'v=STSv1; id=abc; garbage'],
    ['a value with a space', 'v=STSv1; id=abc; ext=a b'],
  ];
  for (const [what, text] of invalid) it(`refuses ${what}`, () => assert.equal(parseStsRecord(text).ok, false));

  const selections: [string, string[][], string | null][] = [
    ['strings joined without spaces', [['v=STSv1; id=2024', '0101;']], '20240101'],
    ['other TXT records ignored', [['v=spf1 -all'], ['v=STSv1; id=x1;']], 'x1'],
    ['no MTA-STS record', [['v=spf1 -all']], null],
    ['"v=STSv1" without ";" discarded', [['v=STSv1']], null],
    ['two MTA-STS records: none counts', [['v=STSv1; id=a;'], ['v=STSv1; id=b;']], null],
  ];
  for (const [what, records, id] of selections) {
    it(`selects: ${what}`, () => {
      const r = selectStsRecord(records);
      assert.equal(r.ok ? r.record.id : null, id, JSON.stringify(r));
    });
  }
});

describe('the policy file (RFC 8461 §3.2)', () => {
  const RFC_EXAMPLE = 'version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmx: backupmx.example.com\nmax_age: 604800\n';
  const valid: [string, string, StsPolicy][] = [
    ['the RFC example', RFC_EXAMPLE, { mode: 'enforce', maxAge: 604800, mx: ['mail.example.com', '*.example.net', 'backupmx.example.com'] }],
    ['CRLF line ends', RFC_EXAMPLE.replace(/\n/g, '\r\n'), { mode: 'enforce', maxAge: 604800, mx: ['mail.example.com', '*.example.net', 'backupmx.example.com'] }],
    ['no final line end, fields in another order', 'mx: MX.Example.COM\nmax_age: 86400\nmode: testing\nversion: STSv1', { mode: 'testing', maxAge: 86400, mx: ['mx.example.com'] }],
    ['blank after the colon, blanks at the end', 'version:STSv1\nmode:\tenforce  \nmx: a.example.com\nmax_age: 1', { mode: 'enforce', maxAge: 1, mx: ['a.example.com'] }],
    ['unknown fields ignored', 'version: STSv1\nmode: none\nmax_age: 0\nfuture_field: anything at all\nVersion: ignored too', { mode: 'none', maxAge: 0, mx: [] }],
    ['a repeated field: the first counts', 'version: STSv1\nmode: testing\nmode: enforce\nmx: a.example.com\nmax_age: 10\nmax_age: 20', { mode: 'testing', maxAge: 10, mx: ['a.example.com'] }],
    ['mode none needs no mx', 'version: STSv1\nmode: none\nmax_age: 86400\n', { mode: 'none', maxAge: 86400, mx: [] }],
    ['max_age over one year: one year', 'version: STSv1\nmode: enforce\nmx: a.example.com\nmax_age: 9999999999', { mode: 'enforce', maxAge: 31557600, mx: ['a.example.com'] }],
    ['extra line ends at the very end', `${RFC_EXAMPLE}\n\r\n`, { mode: 'enforce', maxAge: 604800, mx: ['mail.example.com', '*.example.net', 'backupmx.example.com'] }],
  ];
  for (const [what, text, policy] of valid) it(`reads ${what}`, () => assert.deepEqual(parseStsPolicy(text), policy));

  const invalid: [string, string][] = [
    ['an empty file', ''],
    ['no version', 'mode: enforce\nmx: a.example.com\nmax_age: 1'],
    ['another version', 'version: STSv2\nmode: enforce\nmx: a.example.com\nmax_age: 1'],
    ['a version in another case only', 'Version: STSv1\nmode: enforce\nmx: a.example.com\nmax_age: 1'],
    ['no mode', 'version: STSv1\nmx: a.example.com\nmax_age: 1'],
    ['an unknown mode', 'version: STSv1\nmode: Enforce\nmx: a.example.com\nmax_age: 1'],
    ['no max_age', 'version: STSv1\nmode: enforce\nmx: a.example.com'],
    ['a negative max_age', 'version: STSv1\nmode: enforce\nmx: a.example.com\nmax_age: -1'],
    ['a max_age of 11 digits', 'version: STSv1\nmode: enforce\nmx: a.example.com\nmax_age: 12345678901'],
    ['enforce without mx', 'version: STSv1\nmode: enforce\nmax_age: 1'],
    ['testing without mx', 'version: STSv1\nmode: testing\nmax_age: 1'],
    ['an mx with an empty label', 'version: STSv1\nmode: enforce\nmx: mail..example.com\nmax_age: 1'],
    ['a wildcard not alone in the first label', 'version: STSv1\nmode: enforce\nmx: m*.example.com\nmax_age: 1'],
    ['a wildcard past the first label', 'version: STSv1\nmode: enforce\nmx: mail.*.example.com\nmax_age: 1'],
    ['two wildcards', 'version: STSv1\nmode: enforce\nmx: *.*.example.com\nmax_age: 1'],
    ['an empty line inside', 'version: STSv1\n\nmode: enforce\nmx: a.example.com\nmax_age: 1'],
    ['a line that is not "name: value"', 'version: STSv1\nmode enforce\nmx: a.example.com\nmax_age: 1'],
    ['a blank before the name', 'version: STSv1\n mode: enforce\nmx: a.example.com\nmax_age: 1'],
    ['a field without value', 'version: STSv1\nmode:\nmx: a.example.com\nmax_age: 1'],
    ['an HTML page', '<html><body>Not found</body></html>'],
  ];
  for (const [what, text] of invalid) it(`refuses ${what}`, () => assert.throws(() => parseStsPolicy(text), StsPolicyError));
});

describe('mx patterns (RFC 8461 §4.1)', () => {
  const cases: [string, string, boolean][] = [
    ['mail.example.com', 'mail.example.com', true],
    ['mail.example.com', 'MAIL.Example.COM.', true],
    ['mail.example.com', 'mail2.example.com', false],
    ['*.example.com', 'mail.example.com', true],
    ['*.example.com', 'example.com', false],
    ['*.example.com', 'foo.mail.example.com', false],
    ['*.example.com', 'mail.example.com.evil.test', false],
    ['*.example.net', 'mx1.EXAMPLE.net', true],
  ];
  for (const [pattern, host, want] of cases) it(`${pattern} ${want ? 'matches' : 'does not match'} ${host}`, () => assert.equal(mxMatches(pattern, host), want));
});
