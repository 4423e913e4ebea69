// The SPF result cache: reuse within the minute, per (IP, identity, HELO); expiry, temperrors never kept, the oldest
// entry pushed out first, concurrent checks of one key sharing an evaluation.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SpfCache } from '../../../src/mailauth/spf-cache.js';
import type { SpfOutcome } from '../../../src/mailauth/spf-check.js';

const outcome = (result: string): SpfOutcome => ({ result, comment: null, domain: 'example.org' });

/** A cache on a hand-moved clock, and a check that counts its evaluations. */
function setup(opts: { ttlMs?: number; maxEntries?: number } = {}) {
  let now = 0;
  const cache = new SpfCache<SpfOutcome>({ ...opts, now: () => now });
  const calls: string[] = [];
  const check = (key: string, result = 'pass') => () => {
    calls.push(key);
    return Promise.resolve(outcome(result));
  };
  return { cache, calls, check, advance: (ms: number) => void (now += ms) };
}

test('a result is reused within the TTL for the same (IP, identity, HELO), and only then', async () => {
  const { cache, calls, check, advance } = setup({ ttlMs: 60_000 });
  const cases: readonly [string, string, string | null, number][] = [
    // ip, identity, helo, evaluations so far
    ['192.0.2.1', 'a@example.org', 'mail.example.org', 1],
    ['192.0.2.1', 'a@example.org', 'mail.example.org', 1],
    ['192.0.2.2', 'a@example.org', 'mail.example.org', 2],
    ['192.0.2.1', 'b@example.org', 'mail.example.org', 3],
    ['192.0.2.1', 'a@example.org', 'other.example.org', 4],
    ['192.0.2.1', 'a@example.org', null, 5],
    ['192.0.2.1', 'a@example.org', null, 5],
  ];
  for (const [ip, identity, helo, count] of cases) {
    assert.equal((await cache.get(ip, identity, helo, check(`${ip} ${identity} ${helo}`))).result, 'pass');
    assert.equal(calls.length, count, `${ip} ${identity} ${helo}`);
  }
  advance(59_999);
  await cache.get('192.0.2.1', 'a@example.org', 'mail.example.org', check('again'));
  assert.equal(calls.length, 5);
  advance(1);
  await cache.get('192.0.2.1', 'a@example.org', 'mail.example.org', check('expired'));
  assert.deepEqual(calls.slice(5), ['expired']);
});

test('a temperror is never reused; the other results are', async () => {
  for (const result of ['pass', 'fail', 'softfail', 'neutral', 'none', 'permerror', 'temperror']) {
    const { cache, calls, check } = setup();
    await cache.get('192.0.2.1', 'a@example.org', null, check('first', result));
    await cache.get('192.0.2.1', 'a@example.org', null, check('second', result));
    assert.equal(calls.length, result === 'temperror' ? 2 : 1, result);
  }
});

test('checks of one key running at once share one evaluation', async () => {
  const { cache } = setup();
  let release: (o: SpfOutcome) => void = () => undefined;
  let evaluations = 0;
  const slow = () => {
    evaluations++;
    return new Promise<SpfOutcome>((resolve) => (release = resolve));
  };
  const both = Promise.all([cache.get('192.0.2.1', 'a@example.org', null, slow), cache.get('192.0.2.1', 'a@example.org', null, slow)]);
  release(outcome('pass'));
  assert.deepEqual((await both).map((o) => o.result), ['pass', 'pass']);
  assert.equal(evaluations, 1);
});

test('past maxEntries the oldest result goes first', async () => {
  const { cache, calls, check } = setup({ maxEntries: 2 });
  for (const ip of ['192.0.2.1', '192.0.2.2', '192.0.2.3']) await cache.get(ip, 'a@example.org', null, check(ip));
  assert.equal(cache.size, 2);
  await cache.get('192.0.2.3', 'a@example.org', null, check('3 again'));
  await cache.get('192.0.2.2', 'a@example.org', null, check('2 again'));
  await cache.get('192.0.2.1', 'a@example.org', null, check('1 again'));
  assert.deepEqual(calls, ['192.0.2.1', '192.0.2.2', '192.0.2.3', '1 again']);
});
