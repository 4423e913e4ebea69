// rememberBounded: newest last, the oldest dropped past the bound, a replaced key moved last.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rememberBounded } from '../../../src/cache/bounded-map.js';

test('keeps at most max entries, dropping the oldest first', () => {
  const m = new Map<string, number>();
  for (const [i, k] of ['a', 'b', 'c', 'd'].entries()) rememberBounded(m, k, i, 3);
  assert.deepEqual([...m.entries()], [['b', 1], ['c', 2], ['d', 3]]);
});

test('a key set again takes its new value and becomes the newest, so it outlives older ones', () => {
  const m = new Map<string, number>();
  rememberBounded(m, 'a', 1, 2);
  rememberBounded(m, 'b', 2, 2);
  rememberBounded(m, 'a', 3, 2);
  rememberBounded(m, 'c', 4, 2);
  assert.deepEqual([...m.entries()], [['a', 3], ['c', 4]]);
});
