// Tests of MAIL/RCPT parameter validation: SIZE (RFC 1870), BODY (RFC 6152), SMTPUTF8 (RFC 6531).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type EsmtpParams, parseEsmtpParams, parseReversePath } from '../../../src/smtp/path-parser.js';
import { type MailParams, parseMailParams, parseRcptParams } from '../../../src/smtp/mail-params.js';
import { isSmtpError } from '../../../src/smtp/smtp-error.js';

const maxSize = 1000;
const p = (text: string): EsmtpParams => parseEsmtpParams(text);

/** "code enhanced text" of the SmtpError fn throws. */
function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isSmtpError(err)) return `${err.reply.code} ${err.reply.enhanced} ${err.reply.lines.join(' ')}`;
    throw err;
  }
  assert.fail('expected an SmtpError');
}

describe('parseMailParams: accepted', () => {
  const none: MailParams = { size: null, eightBit: false, smtputf8: false };
  const cases: { text: string; want: MailParams }[] = [
    { text: '', want: none },
    { text: 'SIZE=0', want: { ...none, size: 0 } },
    { text: 'SIZE=1000', want: { ...none, size: 1000 } },
    { text: 'SIZE=0001000', want: { ...none, size: 1000 } },
    { text: 'BODY=7BIT', want: none },
    { text: 'BODY=8BITMIME', want: { ...none, eightBit: true } },
    { text: 'body=8bitmime', want: { ...none, eightBit: true } },
    { text: 'SMTPUTF8', want: { size: null, eightBit: true, smtputf8: true } },
    { text: 'BODY=7BIT SMTPUTF8', want: { size: null, eightBit: true, smtputf8: true } },
    { text: 'SMTPUTF8 BODY=7BIT', want: { size: null, eightBit: true, smtputf8: true } },
    { text: 'SIZE=12 BODY=8BITMIME SMTPUTF8', want: { size: 12, eightBit: true, smtputf8: true } },
  ];
  for (const c of cases) {
    it(c.text === '' ? '(none)' : c.text, () => {
      assert.deepEqual(parseMailParams(p(c.text), { maxSize }), c.want);
    });
  }

  it('works on what parseReversePath returns', () => {
    const { params } = parseReversePath('FROM:<a@b.example> SIZE=10 BODY=8BITMIME', { utf8: false });
    assert.deepEqual(parseMailParams(params, { maxSize }), { size: 10, eightBit: true, smtputf8: false });
  });
});

describe('parseMailParams: refused', () => {
  const cases: { text: string; want: RegExp }[] = [
    { text: 'SIZE=1001', want: /^552 5\.3\.4 .*1000/ },
    { text: 'SIZE=99999999999999999999', want: /^552 5\.3\.4 / },
    { text: 'SIZE=999999999999999999999', want: /^501 5\.5\.4 .*SIZE/ },
    { text: 'SIZE', want: /^501 5\.5\.4 .*SIZE/ },
    { text: 'SIZE=-1', want: /^501 5\.5\.4 .*SIZE/ },
    { text: 'SIZE=1e3', want: /^501 5\.5\.4 .*SIZE/ },
    { text: 'SIZE=0x10', want: /^501 5\.5\.4 .*SIZE/ },
    { text: 'SIZE=1.5', want: /^501 5\.5\.4 .*SIZE/ },
    { text: 'BODY', want: /^501 5\.5\.4 .*BODY/ },
    { text: 'BODY=BINARYMIME', want: /^501 5\.5\.4 .*BODY/ },
    { text: 'BODY=8BIT', want: /^501 5\.5\.4 .*BODY/ },
    { text: 'SMTPUTF8=yes', want: /^501 5\.5\.4 .*SMTPUTF8/ },
    { text: 'AUTH=<>', want: /^555 5\.5\.4 .*AUTH/ },
    { text: 'RET=FULL', want: /^555 5\.5\.4 .*RET/ },
    { text: 'SIZE=10 X-FOO', want: /^555 5\.5\.4 .*X-FOO/ },
    { text: `X${'Y'.repeat(500)}`, want: /^555 5\.5\.4 Unsupported parameter XY{39}\.\.\.$/ },
  ];
  for (const c of cases) {
    it(c.text.length > 40 ? `${c.text.slice(0, 40)}...` : c.text, () => {
      assert.match(errorOf(() => parseMailParams(p(c.text), { maxSize })), c.want);
    });
  }
});

describe('parseRcptParams', () => {
  it('accepts no parameters', () => {
    assert.equal(parseRcptParams(p('')), undefined);
  });
  for (const text of ['NOTIFY=NEVER', 'ORCPT=rfc822;a@b.example', 'SIZE=1']) {
    it(`refuses ${text}`, () => {
      assert.match(errorOf(() => parseRcptParams(p(text))), /^555 5\.5\.4 Unsupported parameter [A-Z]+$/);
    });
  }
});
