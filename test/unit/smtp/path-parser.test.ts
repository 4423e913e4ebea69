// Tests of the reverse-path / forward-path parser (RFC 5321 §4.1.2), its limits, hostile input, and the round trip.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Address, formatAddress } from '../../../src/mail/address.js';
import { type ParsedPath, parseEsmtpParams, parseForwardPath, parseReversePath } from '../../../src/smtp/path-parser.js';
import { isSmtpError } from '../../../src/smtp/smtp-error.js';

const ascii = { utf8: false };
const utf8 = { utf8: true };

/** "code enhanced" of the SmtpError thrown by fn, or a failure if it does not throw one. */
function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isSmtpError(err)) return `${err.reply.code} ${err.reply.enhanced}`;
    throw err;
  }
  assert.fail('expected an SmtpError');
}

const params = (p: ParsedPath<unknown>): Record<string, string | true> => Object.fromEntries(p.params);

describe('parseReversePath: valid', () => {
  const valid: { args: string; path: Address | null; params?: Record<string, string | true>; opts?: { utf8: boolean } }[] = [
    { args: 'FROM:<a@b.example>', path: { local: 'a', domain: 'b.example' } },
    { args: 'from:<a@b.example>', path: { local: 'a', domain: 'b.example' } },
    { args: 'From:<A.B@Example.ORG>', path: { local: 'A.B', domain: 'Example.ORG' } },
    { args: 'FROM: <a@b.example>', path: { local: 'a', domain: 'b.example' } },
    { args: 'FROM:   <a@b.example>   ', path: { local: 'a', domain: 'b.example' } },
    { args: 'FROM:<>', path: null },
    { args: 'FROM: <> ', path: null },
    { args: 'FROM:<> SIZE=0', path: null, params: { SIZE: '0' } },
    { args: 'FROM:<a@b.example> SIZE=10', path: { local: 'a', domain: 'b.example' }, params: { SIZE: '10' } },
    {
      args: 'FROM:<a@b.example> size=10 body=8BITMIME  SMTPUTF8 ',
      path: { local: 'a', domain: 'b.example' },
      params: { SIZE: '10', BODY: '8BITMIME', SMTPUTF8: true },
    },
    { args: "FROM:<!#$%&'*+-/=?^_`{|}~@b.example>", path: { local: "!#$%&'*+-/=?^_`{|}~", domain: 'b.example' } },
    { args: 'FROM:<first.last@b.example>', path: { local: 'first.last', domain: 'b.example' } },
    { args: 'FROM:<a@localhost>', path: { local: 'a', domain: 'localhost' } },
    { args: 'FROM:<a@123.example>', path: { local: 'a', domain: '123.example' } },
    { args: 'FROM:<a@x-y.z-9.example>', path: { local: 'a', domain: 'x-y.z-9.example' } },
    // Quoted local parts: the unquoted value is kept.
    { args: 'FROM:<"a b"@b.example>', path: { local: 'a b', domain: 'b.example' } },
    { args: 'FROM:<"a\\"b"@b.example>', path: { local: 'a"b', domain: 'b.example' } },
    { args: 'FROM:<"a\\\\b"@b.example>', path: { local: 'a\\b', domain: 'b.example' } },
    { args: 'FROM:<"\\a"@b.example>', path: { local: 'a', domain: 'b.example' } },
    { args: 'FROM:<""@b.example>', path: { local: '', domain: 'b.example' } },
    { args: 'FROM:<"a>b"@b.example>', path: { local: 'a>b', domain: 'b.example' } },
    { args: 'FROM:<"..@.."@b.example>', path: { local: '..@..', domain: 'b.example' } },
    // Address literals.
    { args: 'FROM:<a@[192.0.2.1]>', path: { local: 'a', domain: '[192.0.2.1]' } },
    { args: 'FROM:<a@[IPv6:::1]>', path: { local: 'a', domain: '[IPv6:::1]' } },
    { args: 'FROM:<a@[ipv6:2001:db8::1]>', path: { local: 'a', domain: '[ipv6:2001:db8::1]' } },
    { args: 'FROM:<a@[IPv6:::ffff:192.0.2.1]>', path: { local: 'a', domain: '[IPv6:::ffff:192.0.2.1]' } },
    { args: 'FROM:<a@[x-tag:some-content]>', path: { local: 'a', domain: '[x-tag:some-content]' } },
    // Source routes are accepted and dropped (RFC 5321 §4.1.2, Appendix C).
    { args: 'FROM:<@a.example:u@c.example>', path: { local: 'u', domain: 'c.example' } },
    { args: 'FROM:<@a.example,@b.example:u@c.example>', path: { local: 'u', domain: 'c.example' } },
    // UTF-8 with SMTPUTF8 (RFC 6531).
    { args: 'FROM:<jösé@exämple.org> SMTPUTF8', path: { local: 'jösé', domain: 'exämple.org' }, params: { SMTPUTF8: true }, opts: utf8 },
    { args: 'FROM:<用户@例子.广告> SMTPUTF8', path: { local: '用户', domain: '例子.广告' }, params: { SMTPUTF8: true }, opts: utf8 },
    { args: 'FROM:<"a ü"@b.example> SMTPUTF8', path: { local: 'a ü', domain: 'b.example' }, params: { SMTPUTF8: true }, opts: utf8 },
    { args: 'FROM:<a@b.example> SMTPUTF8', path: { local: 'a', domain: 'b.example' }, params: { SMTPUTF8: true }, opts: ascii },
    // Limits, exactly at the edge.
    { args: `FROM:<${'l'.repeat(64)}@b.example>`, path: { local: 'l'.repeat(64), domain: 'b.example' } },
    { args: `FROM:<a@${'d'.repeat(63)}.example>`, path: { local: 'a', domain: `${'d'.repeat(63)}.example` } },
  ];
  for (const c of valid) {
    it(c.args, () => {
      const got = parseReversePath(c.args, c.opts ?? ascii);
      assert.deepEqual(got.path, c.path);
      assert.deepEqual(params(got), c.params ?? {});
    });
  }

  it('accepts a path of exactly 256 octets', () => {
    const domain = `${'d'.repeat(63)}.${'e'.repeat(63)}.${'f'.repeat(63)}.${'g'.repeat(56)}`; // 248 octets
    const args = `FROM:<abcde@${domain}>`; // "<" 5 "@" 248 ">" = 256
    assert.equal(parseReversePath(args, ascii).path?.domain, domain);
  });
});

describe('parseReversePath: refused', () => {
  const syntax = '501 5.1.7';
  const badParam = '501 5.5.4';
  const noUtf8 = '553 5.6.7';
  const invalid: { args: string; want: string; opts?: { utf8: boolean } }[] = [
    { args: '', want: syntax },
    { args: 'FROM', want: syntax },
    { args: 'FROM:', want: syntax },
    { args: 'TO:<a@b.example>', want: syntax },
    { args: 'FROM <a@b.example>', want: syntax },
    { args: 'FROM:a@b.example', want: syntax },
    { args: 'FROM:<a@b.example', want: syntax },
    { args: 'FROM:a@b.example>', want: syntax },
    { args: 'FROM:<a@b.example>>', want: syntax },
    { args: 'FROM:<<a@b.example>>', want: syntax },
    { args: 'FROM:<a@b.example>x', want: syntax },
    { args: 'FROM:<a@b.example>SIZE=1', want: syntax },
    { args: 'FROM:<a>', want: syntax },
    { args: 'FROM:<postmaster>', want: syntax },
    { args: 'FROM:<@b.example>', want: syntax },
    { args: 'FROM:<a@>', want: syntax },
    { args: 'FROM:<a@@b.example>', want: syntax },
    { args: 'FROM:<a@b@c.example>', want: syntax },
    { args: 'FROM:< a@b.example>', want: syntax },
    { args: 'FROM:<a@b.example >', want: syntax },
    { args: 'FROM:<a b@c.example>', want: syntax },
    { args: 'FROM:<.a@b.example>', want: syntax },
    { args: 'FROM:<a.@b.example>', want: syntax },
    { args: 'FROM:<a..b@b.example>', want: syntax },
    { args: 'FROM:<a(b)@c.example>', want: syntax },
    { args: 'FROM:<a,b@c.example>', want: syntax },
    { args: 'FROM:<"a@b.example>', want: syntax },
    { args: 'FROM:<"a"b@c.example>', want: syntax },
    { args: 'FROM:<"a\\"@b.example>', want: syntax },
    { args: 'FROM:<a@.b.example>', want: syntax },
    { args: 'FROM:<a@b.example.>', want: syntax },
    { args: 'FROM:<a@b..example>', want: syntax },
    { args: 'FROM:<a@-b.example>', want: syntax },
    { args: 'FROM:<a@b-.example>', want: syntax },
    { args: 'FROM:<a@b_c.example>', want: syntax },
    { args: 'FROM:<a@b.example:25>', want: syntax },
    { args: 'FROM:<a@[192.0.2.256]>', want: syntax },
    { args: 'FROM:<a@[192.0.2]>', want: syntax },
    { args: 'FROM:<a@[]>', want: syntax },
    { args: 'FROM:<a@[IPv6:::g]>', want: syntax },
    { args: 'FROM:<a@[IPv6:fe80::1%eth0]>', want: syntax },
    { args: 'FROM:<a@[::1]>', want: syntax },
    { args: 'FROM:<a@[IPv4:1.2.3.4]x>', want: syntax },
    { args: 'FROM:<a@[tag:]>', want: syntax },
    { args: 'FROM:<a@[tag:a[b]>', want: syntax },
    { args: 'FROM:<a@[192.0.2.1>', want: syntax },
    { args: 'FROM:<@a.example u@c.example>', want: syntax },
    { args: 'FROM:<@a.example,u@c.example>', want: syntax },
    { args: 'FROM:<@:u@c.example>', want: syntax },
    { args: 'FROM:<@[192.0.2.1]:u@c.example>', want: syntax },
    // Limits.
    { args: `FROM:<${'l'.repeat(65)}@b.example>`, want: syntax },
    { args: `FROM:<"${'l'.repeat(63)}"@b.example>`, want: syntax },
    { args: `FROM:<a@${'d'.repeat(64)}.example>`, want: syntax },
    { args: `FROM:<a@${'d.'.repeat(127)}dd>`, want: syntax },
    { args: `FROM:<abcdef@${'d'.repeat(63)}.${'e'.repeat(63)}.${'f'.repeat(63)}.${'g'.repeat(56)}>`, want: syntax },
    { args: `FROM:<@${'r'.repeat(60)}.example,@${'r'.repeat(60)}.example,@${'r'.repeat(60)}.example,@${'r'.repeat(60)}.example:a@b.example>`, want: syntax },
    // Hostile input: CRLF injection, NUL, controls, broken UTF-16.
    { args: 'FROM:<a@b.example>\r\nRCPT TO:<x@y.example>', want: syntax },
    { args: 'FROM:<a\r\n@b.example>', want: syntax },
    { args: 'FROM:<a@b.example\n>', want: syntax },
    { args: 'FROM:<a\0@b.example>', want: syntax },
    { args: 'FROM:<"a\0"@b.example>', want: syntax },
    { args: 'FROM:<"a\r"@b.example>', want: syntax },
    { args: 'FROM:<a\t@b.example>', want: syntax },
    { args: 'FROM:\t<a@b.example>', want: syntax },
    { args: 'FROM:<a\x7f@b.example>', want: syntax },
    { args: 'FROM:<a\u0085@b.example> SMTPUTF8', want: syntax, opts: utf8 },
    { args: 'FROM:<a\ud800@b.example> SMTPUTF8', want: syntax, opts: utf8 },
    { args: 'FROM:<a\u00a0b@c.example> SMTPUTF8', want: syntax, opts: utf8 },
    { args: 'FROM:<a@b.example> SIZE=1\0', want: syntax },
    { args: `FROM:<${'a'.repeat(100_000)}@b.example>`, want: syntax },
    { args: `FROM:<a@${'b.'.repeat(50_000)}example>`, want: syntax },
    { args: `FROM:<${'"'.repeat(10_000)}>`, want: syntax },
    { args: `FROM:<${'a.'.repeat(30_000)}@b>`, want: syntax },
    // UTF-8 without SMTPUTF8.
    { args: 'FROM:<jösé@b.example>', want: noUtf8 },
    { args: 'FROM:<a@exämple.org>', want: noUtf8 },
    { args: 'FROM:<jösé@b.example>', want: noUtf8, opts: utf8 },
    { args: 'FROM:<jösé@b.example> SMTPUTF8', want: noUtf8, opts: ascii },
    { args: 'FROM:<@exämple.org:a@b.example>', want: noUtf8 },
    { args: 'FROM:<a@xn--a.例子> SMTPUTF8', want: syntax, opts: utf8 },
    { args: 'FROM:<a@例子。广告> SMTPUTF8', want: syntax, opts: utf8 },
    // Parameters.
    { args: 'FROM:<a@b.example> SIZE=', want: badParam },
    { args: 'FROM:<a@b.example> =1', want: badParam },
    { args: 'FROM:<a@b.example> -X=1', want: badParam },
    { args: 'FROM:<a@b.example> X_Y=1', want: badParam },
    { args: 'FROM:<a@b.example> X=a=b', want: badParam },
    { args: 'FROM:<a@b.example> X=ü SMTPUTF8', want: badParam, opts: utf8 },
    { args: 'FROM:<a@b.example> SIZE=1 size=2', want: badParam },
    { args: 'FROM:<a@b.example> SMTPUTF8 SmtpUtf8', want: badParam },
  ];
  for (const c of invalid) {
    it(c.args.length > 80 ? `${c.args.slice(0, 60)}... (${c.args.length} chars)` : JSON.stringify(c.args), () => {
      assert.equal(errorOf(() => parseReversePath(c.args, c.opts ?? ascii)), c.want);
    });
  }

  it('says what is wrong, in plain text', () => {
    try {
      parseReversePath('FROM:<a..b@c.example>', ascii);
      assert.fail('expected an error');
    } catch (err) {
      assert.ok(isSmtpError(err));
      assert.match(err.reply.lines.join(' '), /^Bad sender address syntax: .*dot/);
    }
  });

  it('parses a hostile long line quickly (no regex backtracking)', () => {
    const started = performance.now();
    for (const args of [
      `FROM:<${'a.'.repeat(100_000)}!`,
      `FROM:<"${'\\a'.repeat(100_000)}`,
      `FROM:<a@${'a-'.repeat(100_000)}`,
      `FROM:<a@b.example>${' X=1'.repeat(20_000)}`,
    ]) {
      assert.throws(() => parseReversePath(args, ascii));
    }
    assert.ok(performance.now() - started < 1_000);
  });
});

describe('parseForwardPath', () => {
  const valid: { args: string; path: Address; params?: Record<string, string | true>; opts?: { utf8: boolean } }[] = [
    { args: 'TO:<a@b.example>', path: { local: 'a', domain: 'b.example' } },
    { args: 'to: <a@b.example> ', path: { local: 'a', domain: 'b.example' } },
    { args: 'TO:<postmaster>', path: { local: 'postmaster', domain: '' } },
    { args: 'TO:<PostMaster>', path: { local: 'postmaster', domain: '' } },
    { args: 'TO:<Postmaster@b.example>', path: { local: 'Postmaster', domain: 'b.example' } },
    { args: 'TO:<@a.example,@b.example:u@c.example>', path: { local: 'u', domain: 'c.example' } },
    { args: 'TO:<a@b.example> NOTIFY=NEVER', path: { local: 'a', domain: 'b.example' }, params: { NOTIFY: 'NEVER' } },
    { args: 'TO:<jösé@exämple.org>', path: { local: 'jösé', domain: 'exämple.org' }, opts: utf8 },
  ];
  for (const c of valid) {
    it(c.args, () => {
      const got = parseForwardPath(c.args, c.opts ?? ascii);
      assert.deepEqual(got.path, c.path);
      assert.deepEqual(params(got), c.params ?? {});
    });
  }

  const invalid: { args: string; want: string; opts?: { utf8: boolean } }[] = [
    { args: 'TO:<>', want: '501 5.1.3' },
    { args: 'FROM:<a@b.example>', want: '501 5.1.3' },
    { args: 'TO:a@b.example', want: '501 5.1.3' },
    { args: 'TO:<a@b.example>>', want: '501 5.1.3' },
    { args: 'TO:<"postmaster">', want: '501 5.1.3' },
    { args: 'TO:<@a.example:postmaster>', want: '501 5.1.3' },
    { args: 'TO:<abuse>', want: '501 5.1.3' },
    { args: 'TO:<a@b.example>\r\nDATA', want: '501 5.1.3' },
    { args: 'TO:<jösé@b.example>', want: '553 5.6.7' },
    { args: 'TO:<a@b.example> X=', want: '501 5.5.4' },
  ];
  for (const c of invalid) {
    it(`refuses ${JSON.stringify(c.args)}`, () => {
      assert.equal(errorOf(() => parseForwardPath(c.args, c.opts ?? ascii)), c.want);
    });
  }
});

describe('parseEsmtpParams', () => {
  it('splits keywords and values, upper-cases keywords only', () => {
    assert.deepEqual([...parseEsmtpParams(' a=Bc  D-1 e9=x+y ')], [
      ['A', 'Bc'],
      ['D-1', true],
      ['E9', 'x+y'],
    ]);
  });
  it('is empty for nothing or spaces', () => {
    assert.equal(parseEsmtpParams('').size, 0);
    assert.equal(parseEsmtpParams('   ').size, 0);
  });
});

describe('formatAddress of a parsed path', () => {
  it('round-trips through the parser', () => {
    for (const args of ['TO:<"a b"@c.example>', 'TO:<"a\\"b"@c.example>', 'TO:<x.y@[192.0.2.1]>', 'TO:<"\\a"@c.example>']) {
      const a = parseForwardPath(args, ascii).path;
      assert.deepEqual(parseForwardPath(`TO:<${formatAddress(a)}>`, ascii).path, a);
    }
    assert.equal(formatAddress(parseForwardPath('TO:<"\\a"@c.example>', ascii).path), 'a@c.example');
  });
});
