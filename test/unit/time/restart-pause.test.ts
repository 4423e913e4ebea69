import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nextRestartPause } from '../../../src/time/restart-pause.js';

const P = { healthyMs: 10_000, firstMs: 1000, maxMs: 60_000 };

test('a young death waits 1 s, then twice as long each time, up to the bound; a healthy life starts again at once', () => {
  const pauses: number[] = [];
  let pause = 0;
  for (let i = 0; i < 8; i++) pauses.push((pause = nextRestartPause(pause, 500, P)));
  assert.deepEqual(pauses, [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000]);
  assert.equal(nextRestartPause(pause, 10_000, P), 0);
  assert.equal(nextRestartPause(0, 9_999, P), 1000);
});
