// rspamd's answers and the verdicts they become, one row per action and per oddity of the answer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CheckVerdict } from '../../../src/inbound/message-check.js';
import { verdictOf } from '../../../src/rspamd/rspamd-verdict.js';

const spamHeaders = { add_headers: { 'X-Spam-Status': { value: 'Yes, score=7.00', order: -1 } }, remove_headers: { 'X-Spam-Status': 0 } };

test('each action of rspamd, and what it becomes', () => {
  const cases: [string, Record<string, unknown>, CheckVerdict][] = [
    ['no action', { action: 'no action', milter: spamHeaders }, { action: 'accept', headers: ['X-Spam-Status: Yes, score=7.00'], removeHeaders: ['X-Spam-Status'] }],
    ['greylist: accepted, as rspamd\'s milter does', { action: 'greylist' }, { action: 'accept', headers: [], removeHeaders: [] }],
    ['an action we do not know', { action: 'quarantine-ish' }, { action: 'accept', headers: [], removeHeaders: [] }],
    [
      'reject, with rspamd\'s text',
      { action: 'reject', messages: { smtp_message: 'Gtube pattern' } },
      { action: 'reject', reply: { code: 550, enhanced: '5.7.1', lines: ['Gtube pattern'] }, headers: [] },
    ],
    ['reject, without text', { action: 'reject' }, { action: 'reject', reply: { code: 550, enhanced: '5.7.1', lines: ['Message refused as spam'] }, headers: [] }],
    ['reject turned into a quarantine by rspamd\'s settings', { action: 'reject', milter: { reject: 'quarantine' } }, { action: 'junk', headers: [], removeHeaders: [] }],
    [
      'soft reject',
      { action: 'soft reject', messages: { smtp_message: 'Try again later' } },
      { action: 'defer', reply: { code: 451, enhanced: '4.7.1', lines: ['Try again later'] }, headers: [] },
    ],
    [
      'add header: X-Spam: Yes, forged copies removed',
      { action: 'add header', milter: spamHeaders },
      { action: 'junk', headers: ['X-Spam: Yes', 'X-Spam-Status: Yes, score=7.00'], removeHeaders: ['X-Spam', 'X-Spam-Status'] },
    ],
    [
      'add header with a spam_header of rspamd\'s settings',
      { action: 'add header', milter: { spam_header: 'X-Spam-Flag' } },
      { action: 'junk', headers: ['X-Spam-Flag: Yes'], removeHeaders: ['X-Spam-Flag'] },
    ],
    [
      'rewrite subject',
      { action: 'rewrite subject', subject: '***SPAM*** cheap pills' },
      { action: 'junk', headers: ['Subject: ***SPAM*** cheap pills'], removeHeaders: ['Subject'] },
    ],
    [
      'rewrite subject with non-ASCII text: RFC 2047 encoded-words',
      { action: 'rewrite subject', subject: '***SPAM*** café' },
      { action: 'junk', headers: [`Subject: =?UTF-8?B?${Buffer.from('***SPAM*** café').toString('base64')}?=`], removeHeaders: ['Subject'] },
    ],
    ['rewrite subject without a subject: marked', { action: 'rewrite subject' }, { action: 'junk', headers: ['X-Spam: Yes'], removeHeaders: ['X-Spam'] }],
    [
      'no_action: the action said in a header, not applied',
      { action: 'reject', milter: { no_action: true } },
      { action: 'accept', headers: ['X-Rspamd-Action: reject'], removeHeaders: [] },
    ],
  ];
  for (const [name, answer, verdict] of cases) assert.deepEqual(verdictOf(answer, { spamToJunk: true }).verdict, verdict, name);
});

test('spam_to_junk = false: spam is accepted, marked', () => {
  assert.deepEqual(verdictOf({ action: 'add header' }, { spamToJunk: false }).verdict, { action: 'accept', headers: ['X-Spam: Yes'], removeHeaders: ['X-Spam'] });
});

test('headers: rspamd\'s folding made ours, every value form, bad names and controls dropped', () => {
  const answer = {
    action: 'no action',
    milter: {
      add_headers: {
        'X-Spamd-Result': { value: 'default: False [0.00 / 15.00];\r\n\tARC_NA(0.00)[];\r\n\tMIME_GOOD(-0.10)[text/plain]', order: 0 },
        'X-Plain': 'a plain string',
        'X-Twice': ['one', { value: 'two' }],
        'Bad Name': 'dropped',
        'X-Controls': 'a\u0000b\u001bc',
        'X-Not-A-Value': { order: 1 },
      },
      remove_headers: { 'X-Spamd-Result': 0, 'Bad Name': 1 },
    },
  };
  assert.deepEqual(verdictOf(answer, { spamToJunk: true }).verdict, {
    action: 'accept',
    headers: [
      'X-Spamd-Result: default: False [0.00 / 15.00];\n\tARC_NA(0.00)[];\n\tMIME_GOOD(-0.10)[text/plain]',
      'X-Plain: a plain string',
      'X-Twice: one',
      'X-Twice: two',
      'X-Controls: abc',
    ],
    removeHeaders: ['X-Spamd-Result'],
  });
});

test('reply text from rspamd: one printable ASCII line, at most 200 characters', () => {
  const v = verdictOf({ action: 'reject', messages: { smtp_message: `spam\r\n250 ok ${'x'.repeat(300)}` } }, { spamToJunk: true }).verdict;
  assert.equal(v.reply?.lines[0], `spam 250 ok ${'x'.repeat(188)}`);
});

test('score and action are reported; something that is not rspamd\'s answer throws', () => {
  const r = verdictOf({ action: 'no action', score: 1.5, required_score: 15 }, { spamToJunk: true });
  assert.deepEqual([r.action, r.score, r.requiredScore], ['no action', 1.5, 15]);
  for (const bad of [null, [], 'no action', {}, { action: 3 }]) assert.throws(() => verdictOf(bad, { spamToJunk: true }), JSON.stringify(bad));
});
