// retryDelay: doubling from retry_min, capped at retry_max, ±10 % jitter.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { retryDelay } from '../../../src/outbound/backoff.js';

const MIN = 5 * 60_000;
const MAX = 60 * 60_000;
const at = (random: number) => (attempts: number) => retryDelay(attempts, { min: MIN, max: MAX, random: () => random });

test('without jitter the delay doubles from retry_min up to retry_max', () => {
  const table: [number, number][] = [
    [1, 5], [2, 10], [3, 20], [4, 40], [5, 60], [6, 60], [50, 60], [5000, 60],
  ];
  for (const [attempts, minutes] of table) assert.equal(at(0.5)(attempts), minutes * 60_000, `attempt ${attempts}`);
});

test('jitter moves the delay by at most 10 % either way, never past retry_max', () => {
  assert.equal(at(0)(1), 0.9 * MIN);
  assert.equal(at(0.999999)(1), Math.round(MIN * (0.9 + 0.2 * 0.999999)));
  assert.ok(at(0.999999)(1) <= 1.1 * MIN);
  assert.equal(at(0)(10), 0.9 * MAX);
  assert.equal(at(0.999999)(10), MAX);
});

test('attempt 0 or a negative count is treated as the first', () => {
  assert.equal(at(0.5)(0), MIN);
  assert.equal(at(0.5)(-3), MIN);
});

test('retry_max below retry_min: retry_min wins', () => {
  assert.equal(retryDelay(3, { min: 1000, max: 10, random: () => 0.5 }), 1000);
});
