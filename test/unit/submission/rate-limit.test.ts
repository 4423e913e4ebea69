// Messages per user per hour, in flight included.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MessageRateLimit } from '../../../src/submission/rate-limit.js';

test('at most maxPerHour messages in any hour, counted at commit, in flight reserved', () => {
  let now = 0;
  const r = new MessageRateLimit({ maxPerHour: 2, now: () => now });
  assert.equal(r.reserve('alice'), true);
  assert.equal(r.reserve('alice'), true);
  assert.equal(r.allows('alice'), false, 'two in flight fill the hour');
  assert.equal(r.reserve('alice'), false);
  r.release('alice', false); // refused by the queue: the place is given back
  assert.equal(r.allows('alice'), true);
  r.release('alice', true);
  now += 1000;
  assert.equal(r.reserve('alice'), true);
  r.release('alice', true);
  assert.equal(r.allows('alice'), false);
  assert.equal(r.allows('bob'), true, 'per user');
  now = 3_600_000; // the first message is an hour old
  assert.equal(r.allows('alice'), true);
  assert.equal(r.reserve('alice'), true);
  assert.equal(r.allows('alice'), false);
  r.release('alice', false);
  now += 3_600_000;
  assert.equal(r.reserve('alice'), true);
  assert.equal(r.reserve('alice'), true);
  assert.equal(r.allows('alice'), false, 'in flight counts');
});
