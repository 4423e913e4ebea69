// Several checks' verdicts as one: the strongest action, every header, every field to remove.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { combineVerdicts, type CheckVerdict } from '../../../src/inbound/message-check.js';

const reject = { code: 550, enhanced: '5.7.1', lines: ['spam'] };
const defer = { code: 451, enhanced: '4.7.1', lines: ['later'] };

test('combineVerdicts', () => {
  const cases: [string, CheckVerdict[], CheckVerdict][] = [
    ['none', [], { action: 'accept', headers: [] }],
    [
      'headers add up, removals too (once each)',
      [
        { action: 'accept', headers: ['Authentication-Results: mx; spf=pass'] },
        { action: 'junk', headers: ['Subject: ***SPAM*** x'], removeHeaders: ['Subject', 'X-Spam'] },
        { action: 'accept', headers: [], removeHeaders: ['X-Spam'] },
      ],
      { action: 'junk', headers: ['Authentication-Results: mx; spf=pass', 'Subject: ***SPAM*** x'], removeHeaders: ['Subject', 'X-Spam'] },
    ],
    [
      'reject beats defer beats junk, with its reply',
      [{ action: 'junk', headers: [] }, { action: 'defer', reply: defer, headers: [] }, { action: 'reject', reply: reject, headers: [] }],
      { action: 'reject', reply: reject, headers: [] },
    ],
    ['one check that accepts', [{ action: 'accept', headers: ['Authentication-Results: mx; spf=pass'] }], { action: 'accept', headers: ['Authentication-Results: mx; spf=pass'] }],
    ['one check that rejects, with its reply', [{ action: 'reject', reply: reject, headers: ['X: y'] }], { action: 'reject', reply: reject, headers: ['X: y'] }],
    ['one check that junks, removing nothing', [{ action: 'junk', headers: [], removeHeaders: [] }], { action: 'junk', headers: [] }],
    ['one check that removes fields', [{ action: 'accept', headers: [], removeHeaders: ['X-Spam', 'X-Spam'] }], { action: 'accept', headers: [], removeHeaders: ['X-Spam'] }],
  ];
  for (const [name, verdicts, combined] of cases) assert.deepEqual(combineVerdicts(verdicts), combined, name);
});
