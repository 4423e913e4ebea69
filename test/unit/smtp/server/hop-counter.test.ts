import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HopCounter, MAX_HOPS } from '../../../../src/smtp/server/hop-counter.js';

const message = 'Received: from a\n\tby b\nRECEIVED: x\nSubject: received: no\nreceived:y\n\nReceived: in the body\n';

function countSplit(text: string, at: number[]): number {
  const h = new HopCounter();
  const buf = Buffer.from(text);
  let last = 0;
  for (const i of [...at, buf.length]) {
    h.feed(buf.subarray(last, i));
    last = i;
  }
  return h.count;
}

test('counts Received headers of the header section only, case-insensitively', () => {
  assert.equal(countSplit(message, []), 3);
});

test('gives the same count whatever the chunk boundaries', () => {
  const n = Buffer.byteLength(message);
  for (let i = 0; i <= n; i++) for (const j of [i, Math.min(n, i + 3)]) assert.equal(countSplit(message, [...new Set([i, j])]), 3, `split at ${i},${j}`);
});

test('a message with more than the limit is looping', () => {
  const h = new HopCounter();
  h.feed(Buffer.from('Received: x\n'.repeat(MAX_HOPS)));
  assert.equal(h.looping, false);
  h.feed(Buffer.from('Received: x\n\nbody\n'));
  assert.equal(h.looping, true);
});
