// AuthResultsFilter: Authentication-Results fields that claim our authserv-id go (with their continuation lines),
// everything else stays byte for byte, however the message is cut into chunks.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { AuthResultsFilter, authservIdOf } from '../../../src/mailauth/auth-results-filter.js';

const ID = 'mx.test';

function filter(chunks: readonly string[]): string {
  const f = new AuthResultsFilter(ID);
  let out = '';
  for (const c of chunks) out += f.push(Buffer.from(c, 'latin1')).toString('latin1');
  return out + f.end().toString('latin1');
}

const OURS = 'Authentication-Results: mx.test;\n spf=pass smtp.mailfrom=a@b.example;\n\tdkim=pass header.d=b.example\n';
const THEIRS = 'Authentication-Results: mx.other.example; spf=fail smtp.mailfrom=a@b.example\n';

describe('AuthResultsFilter', () => {
  const cases: { name: string; input: string; want: string }[] = [
    { name: 'ours goes with its continuation lines; theirs stays', input: `From: a@b.example\n${OURS}${THEIRS}Subject: x\n\nbody\n`, want: `From: a@b.example\n${THEIRS}Subject: x\n\nbody\n` },
    { name: 'field name and id in any case', input: 'AUTHENTICATION-RESULTS: MX.Test; dkim=pass\nA: 1\n\n', want: 'A: 1\n\n' },
    { name: 'a space before the colon', input: 'Authentication-Results : mx.test; none\n\n', want: '\n' },
    { name: 'a version after the id', input: 'Authentication-Results: mx.test 1; none\n\n', want: '\n' },
    { name: 'the id as a quoted-string (RFC 2045 value)', input: 'Authentication-Results: "mx.test"; dkim=pass\nAuthentication-Results: "mx.\\test" 1; spf=pass\nA: 1\n\n', want: 'A: 1\n\n' },
    { name: 'a quoted id of another host stays', input: 'Authentication-Results: "mx.test.evil.example"; spf=pass\n\n', want: 'Authentication-Results: "mx.test.evil.example"; spf=pass\n\n' },
    { name: 'a comment before the id', input: 'Authentication-Results: (forged (really)) mx.test; spf=pass\n\n', want: '\n' },
    { name: 'the id on a continuation line', input: 'Authentication-Results:\n   mx.test;\n  spf=pass\nB: 2\n\n', want: 'B: 2\n\n' },
    { name: 'an id that only starts like ours', input: 'Authentication-Results: mx.test.evil.example; spf=pass\n\n', want: 'Authentication-Results: mx.test.evil.example; spf=pass\n\n' },
    { name: 'an id cut short by a tspecial (malformed): ours to a reader that stops there', input: 'Authentication-Results: mx.test/evil; dkim=pass\nAuthentication-Results: mx.test,x; spf=pass\nAuthentication-Results: MX.Test@x; spf=pass\nA: 1\n\n', want: 'A: 1\n\n' },
    { name: 'the id with the final dot of a fully qualified name', input: 'Authentication-Results: mx.test.; dkim=pass\nA: 1\n\n', want: 'A: 1\n\n' },
    { name: 'an id that goes on past ours in token characters stays', input: 'Authentication-Results: mx.test.-x; spf=pass\n\n', want: 'Authentication-Results: mx.test.-x; spf=pass\n\n' },
    { name: 'an id that ends like ours', input: 'Authentication-Results: evilmx.test; spf=pass\n\n', want: 'Authentication-Results: evilmx.test; spf=pass\n\n' },
    { name: 'CRLF line endings', input: `A: 1\r\n${OURS.replace(/\n/g, '\r\n')}B: 2\r\n\r\nx\r\n`, want: 'A: 1\r\nB: 2\r\n\r\nx\r\n' },
    { name: 'the body is never touched', input: `A: 1\n\n${OURS}`, want: `A: 1\n\n${OURS}` },
    { name: 'ARC-Authentication-Results is another field', input: 'ARC-Authentication-Results: i=1; mx.test; spf=pass\n\n', want: 'ARC-Authentication-Results: i=1; mx.test; spf=pass\n\n' },
    { name: 'a field with no id at all is malformed and goes', input: 'Authentication-Results:\nA: 1\n\n', want: 'A: 1\n\n' },
    { name: 'ours as the last field of a message without body', input: `A: 1\n${OURS.trimEnd()}`, want: 'A: 1\n' },
    { name: 'no empty line and no final LF', input: 'A: 1\nB: 2', want: 'A: 1\nB: 2' },
  ];
  for (const c of cases) {
    test(c.name, () => assert.equal(filter([c.input]), c.want));
  }

  test('the same result however the message is cut (property)', () => {
    const input = `Received: from x\n\tby y\n${OURS}${THEIRS}Authentication-Results: (c) mx.test; x\n  y\nSubject: s\n\nAuthentication-Results: mx.test; body\n`;
    const want = filter([input]);
    assert.equal(want, `Received: from x\n\tby y\n${THEIRS}Subject: s\n\nAuthentication-Results: mx.test; body\n`);
    fc.assert(
      fc.property(fc.array(fc.nat(input.length), { maxLength: 12 }), (cuts) => {
        const at = [...new Set(cuts)].sort((a, b) => a - b);
        const chunks = [0, ...at].map((s, i) => input.slice(s, at[i] ?? input.length));
        assert.equal(filter(chunks), want);
      }),
      { numRuns: 300 },
    );
  });

  test('lines longer than the hold limit stream through (a huge foreign field, a huge Subject)', () => {
    const long = 'x'.repeat(20_000);
    const input = `Subject: ${long}\nAuthentication-Results: other.example; ${long}\n${OURS}\nbody`;
    const chunks = input.match(/[\s\S]{1,1000}/g) ?? [];
    assert.equal(filter(chunks), `Subject: ${long}\nAuthentication-Results: other.example; ${long}\n\nbody`);
  });

  test('a field of ours past the hold limit goes too', () => {
    const input = `Authentication-Results: mx.test;\n spf=pass ${'y'.repeat(20_000)}\nA: 1\n\n`;
    assert.equal(filter(input.match(/[\s\S]{1,1000}/g) ?? []), 'A: 1\n\n');
  });

  test('an id not yet read after the hold limit (kilobytes of comment arriving in pieces): dropped rather than trusted', () => {
    const input = `Authentication-Results: (${'c'.repeat(10_000)}) other.example; x\nA: 1\n\n`;
    assert.equal(filter(input.match(/[\s\S]{1,1000}/g) ?? []), 'A: 1\n\n');
  });
});

describe('authservIdOf', () => {
  const cases: [string, boolean, string | null][] = [
    ['Authentication-Results: mx.test; spf=pass', false, 'mx.test'],
    ['Authentication-Results: mx.te', false, null],
    ['Authentication-Results: mx.te', true, 'mx.te'],
    ['Authentication-Results:   (c) ', false, null],
    ['Authentication-Results: mx.test\n', false, 'mx.test'],
    ['Authentication-Results: "mx.test"; spf=pass', false, 'mx.test'],
    ['Authentication-Results: mx.test/evil; spf=pass', false, 'mx.test'],
    ['Authentication-Results: mx.test=x', false, 'mx.test'],
    ['Authentication-Results: (c) "mx\\.test"', false, 'mx.test'],
    ['Authentication-Results: "mx.te', false, null],
    ['Authentication-Results: "mx.te', true, 'mx.te'],
  ];
  for (const [field, complete, want] of cases) {
    test(`${JSON.stringify(field)} ${complete ? '(complete)' : ''}`, () => assert.equal(authservIdOf(Buffer.from(field), complete), want));
  }
});
