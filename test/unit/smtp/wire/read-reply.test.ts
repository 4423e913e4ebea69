// The client's reply parser: multiline replies, enhanced codes, line endings, limits, and every chunk split.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Reply } from '../../../../src/mail/reply.js';
import { MAX_REPLY_LINE, MAX_REPLY_LINES, ReplyParser, ReplyProtocolError } from '../../../../src/smtp/wire/read-reply.js';

const parseAll = (text: string | Buffer): Reply[] => new ReplyParser().push(Buffer.from(text));

describe('ReplyParser: well-formed replies', () => {
  const cases: { name: string; wire: string; want: Reply[] }[] = [
    { name: 'single line', wire: '250 OK\r\n', want: [{ code: 250, enhanced: null, lines: ['OK'] }] },
    { name: 'code alone', wire: '250\r\n', want: [{ code: 250, enhanced: null, lines: [''] }] },
    {
      name: 'multiline EHLO',
      wire: '250-mx.example.org greets you\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 STARTTLS\r\n',
      want: [{ code: 250, enhanced: null, lines: ['mx.example.org greets you', 'PIPELINING', 'SIZE 1000', 'STARTTLS'] }],
    },
    {
      name: 'enhanced code stripped from every line',
      wire: '550-5.1.1 No such user\r\n550 5.1.1 Try another\r\n',
      want: [{ code: 550, enhanced: '5.1.1', lines: ['No such user', 'Try another'] }],
    },
    { name: 'enhanced code with three-digit parts', wire: '451 4.123.456 odd\r\n', want: [{ code: 451, enhanced: '4.123.456', lines: ['odd'] }] },
    { name: 'enhanced code alone', wire: '250 2.0.0\r\n', want: [{ code: 250, enhanced: '2.0.0', lines: [''] }] },
    {
      name: 'enhanced code of another class is text',
      wire: '250 5.0.0 strange\r\n',
      want: [{ code: 250, enhanced: null, lines: ['5.0.0 strange'] }],
    },
    { name: 'version number is not an enhanced code', wire: '220 2.10.3x ready\r\n', want: [{ code: 220, enhanced: null, lines: ['2.10.3x ready'] }] },
    { name: 'bare LF accepted', wire: '220-hello\n220 there\n', want: [{ code: 220, enhanced: null, lines: ['hello', 'there'] }] },
    {
      name: 'two replies in one read',
      wire: '250 2.1.0 ok\r\n354 go ahead\r\n',
      want: [
        { code: 250, enhanced: '2.1.0', lines: ['ok'] },
        { code: 354, enhanced: null, lines: ['go ahead'] },
      ],
    },
    { name: 'UTF-8 text', wire: '550 5.1.1 café inconnu\r\n', want: [{ code: 550, enhanced: '5.1.1', lines: ['café inconnu'] }] },
    { name: 'tab in text', wire: '250 a\tb\r\n', want: [{ code: 250, enhanced: null, lines: ['a\tb'] }] },
  ];
  for (const c of cases) {
    it(c.name, () => assert.deepEqual(parseAll(c.wire), c.want));
  }

  it('gives the same replies however the bytes are split', () => {
    const wire = Buffer.from('220-first\r\n220 second\r\n250-2.0.0 a\r\n250 2.0.0 b\r\n421 4.3.2 bye\n');
    const whole = parseAll(wire);
    assert.equal(whole.length, 3);
    for (let i = 0; i <= wire.length; i++) {
      for (let j = i; j <= wire.length; j++) {
        const p = new ReplyParser();
        const got = [...p.push(wire.subarray(0, i)), ...p.push(wire.subarray(i, j)), ...p.push(wire.subarray(j))];
        assert.deepEqual(got, whole, `split at ${i}/${j}`);
        assert.equal(p.pending, false);
      }
    }
  });

  it('returns nothing until the last line is complete', () => {
    const p = new ReplyParser();
    assert.deepEqual(p.push(Buffer.from('250-a\r\n250 b')), []);
    assert.equal(p.pending, true);
    assert.deepEqual(p.push(Buffer.from('\r\n')), [{ code: 250, enhanced: null, lines: ['a', 'b'] }]);
  });
});

describe('ReplyParser: protocol errors', () => {
  const bad: { name: string; wire: string }[] = [
    { name: 'not a code', wire: 'hello\r\n' },
    { name: 'code out of range (1xx)', wire: '150 ok\r\n' },
    { name: 'code out of range (6xx)', wire: '650 ok\r\n' },
    { name: 'second digit out of range', wire: '270 ok\r\n' },
    { name: 'two-digit code', wire: '25 ok\r\n' },
    { name: 'no separator', wire: '250ok\r\n' },
    { name: 'lines with different codes', wire: '250-a\r\n251 b\r\n' },
    { name: 'bare CR inside a line', wire: '250 a\rb\r\n' },
    { name: 'CR CR LF', wire: '250 a\r\r\n' },
    { name: 'empty line', wire: '\r\n' },
  ];
  for (const c of bad) {
    it(c.name, () => assert.throws(() => parseAll(c.wire), ReplyProtocolError));
  }

  it(`refuses a line over ${MAX_REPLY_LINE} octets, even before its end arrives`, () => {
    const p = new ReplyParser();
    assert.deepEqual(p.push(Buffer.from(`250 ${'x'.repeat(MAX_REPLY_LINE - 4)}`)), []);
    assert.throws(() => p.push(Buffer.from('yy')), ReplyProtocolError);
  });

  it(`accepts a line of exactly ${MAX_REPLY_LINE} octets`, () => {
    const line = `250 ${'x'.repeat(MAX_REPLY_LINE - 4)}`;
    assert.equal(parseAll(`${line}\r\n`)[0]?.lines[0]?.length, MAX_REPLY_LINE - 4);
  });

  it(`refuses a reply of more than ${MAX_REPLY_LINES} lines`, () => {
    const p = new ReplyParser();
    const ok = '250-x\r\n'.repeat(MAX_REPLY_LINES - 1);
    assert.deepEqual(p.push(Buffer.from(ok)), []);
    assert.throws(() => p.push(Buffer.from('250-x\r\n')), ReplyProtocolError);
  });

  it(`accepts a reply of exactly ${MAX_REPLY_LINES} lines`, () => {
    const wire = `${'250-x\r\n'.repeat(MAX_REPLY_LINES - 1)}250 end\r\n`;
    assert.equal(parseAll(wire)[0]?.lines.length, MAX_REPLY_LINES);
  });

  it('stays failed after an error', () => {
    const p = new ReplyParser();
    assert.throws(() => p.push(Buffer.from('junk\r\n')), ReplyProtocolError);
    assert.throws(() => p.push(Buffer.from('250 ok\r\n')), ReplyProtocolError);
  });
});
