import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatReply, reply, replyText, isTransient, isPermanent } from '../../../src/mail/reply.js';
import { replies } from '../../../src/smtp/replies.js';

test('a one-line reply carries its enhanced code', () => {
  assert.equal(formatReply(replies.unknownMailbox()), '550 5.1.1 No such user here\r\n');
});

test('a multiline reply repeats code and enhanced code with "-" on all lines but the last', () => {
  assert.equal(formatReply(reply(250, '2.0.0', ['first', 'last'])), '250-2.0.0 first\r\n250 2.0.0 last\r\n');
});

test('the greeting and EHLO lines have no enhanced code (RFC 2034 §3)', () => {
  assert.equal(formatReply(replies.greeting('mx.test')), '220 mx.test ESMTP facteur\r\n');
});

test('CR and LF inside reply text can never end the reply early', () => {
  assert.equal(formatReply(reply(501, '5.5.4', 'a\r\n250 injected')), '501 5.5.4 a  250 injected\r\n');
});

test('transience is read off the code', () => {
  assert.equal(isTransient(replies.storageFailure()), true);
  assert.equal(isPermanent(replies.storageFailure()), false);
  assert.equal(isPermanent(replies.relayDenied()), true);
  assert.equal(replyText(replies.tooManyRecipients()), '452 4.5.3 Too many recipients');
});

test('every catalogue reply pairs a basic code with an enhanced code of the same class', () => {
  for (const [name, make] of Object.entries(replies)) {
    const r = (make as (...a: unknown[]) => ReturnType<typeof reply>)();
    if (r.enhanced === null) continue;
    assert.equal(r.enhanced[0], String(r.code)[0], name);
  }
});
