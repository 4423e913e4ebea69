// Greylisting's decisions with a clock in the test's hands, its bounds, and its snapshot on disk.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GreylistState, type GreylistRules } from '../../../src/greylist/greylist-state.js';

const MIN = 60_000;
const DAY = 86_400_000;
const rules: GreylistRules = { delay: 5 * MIN, expire: DAY, lifetime: 35 * DAY, autoWhitelist: 3 };
const NET = '192.0.2.0/24';

describe('GreylistState', () => {
  test('a new triple is refused, a retry before the delay too, one after it passes, and then it keeps passing', () => {
    const s = new GreylistState(rules);
    const t0 = 1_700_000_000_000;
    assert.deepEqual(s.decide(NET, 'a', t0), { pass: false, why: 'new', retryInMs: 5 * MIN });
    assert.deepEqual(s.decide(NET, 'a', t0 + 2 * MIN), { pass: false, why: 'too-early', retryInMs: 3 * MIN });
    assert.deepEqual(s.decide(NET, 'a', t0 + 5 * MIN), { pass: true, why: 'retried' });
    assert.deepEqual(s.decide(NET, 'a', t0 + 30 * DAY), { pass: true, why: 'known' });
    // Each use extends its life: 30 days after its last use it is still known.
    assert.deepEqual(s.decide(NET, 'a', t0 + 60 * DAY), { pass: true, why: 'known' });
    // Unused past its lifetime: forgotten, greylisted afresh.
    assert.equal(s.decide(NET, 'a', t0 + 96 * DAY).pass, false);
  });

  test('a triple not retried within expire starts over', () => {
    const s = new GreylistState(rules);
    s.decide(NET, 'a', 0);
    assert.deepEqual(s.decide(NET, 'a', DAY + 1), { pass: false, why: 'expired', retryInMs: 5 * MIN });
    assert.equal(s.decide(NET, 'a', DAY + 1 + 5 * MIN).pass, true);
  });

  test('a delay of zero asks only for a retry', () => {
    const s = new GreylistState({ ...rules, delay: 0 });
    assert.equal(s.decide(NET, 'a', 0).pass, false);
    assert.deepEqual(s.decide(NET, 'a', 0), { pass: true, why: 'retried' });
  });

  test('a network that retried properly autoWhitelist times skips greylisting; 0 turns that off', () => {
    for (const autoWhitelist of [3, 0]) {
      const s = new GreylistState({ ...rules, autoWhitelist });
      for (const triple of ['a', 'b', 'c']) {
        s.decide(NET, triple, 0);
        assert.equal(s.decide(NET, triple, 5 * MIN).why, 'retried');
      }
      const next = s.decide(NET, 'd', 6 * MIN);
      assert.equal(next.pass, autoWhitelist === 3, `autoWhitelist ${autoWhitelist}`);
      // Another network is not whitelisted by it.
      assert.equal(s.decide('198.51.100.0/24', 'e', 6 * MIN).pass, false);
    }
  });

  test('prune drops unretried triples past expire and unused ones past their lifetime', () => {
    const s = new GreylistState(rules);
    s.decide(NET, 'old-unretried', 0);
    s.decide(NET, 'passed', 0);
    s.decide(NET, 'passed', 5 * MIN);
    s.decide(NET, 'recent', 2 * DAY);
    assert.equal(s.prune(2 * DAY), 1);
    assert.deepEqual(s.size, { triples: 2, networks: 1 });
    assert.equal(s.prune(2 * DAY + 5 * MIN), 0);
    assert.equal(s.prune(5 * MIN + 35 * DAY + 1), 3); // "passed" and its network, "recent" never retried
    assert.deepEqual(s.size, { triples: 0, networks: 0 });
  });

  test('bounded: past the maximum the least recently used entry goes', () => {
    const s = new GreylistState(rules, { maxTriples: 3, maxNetworks: 2 });
    for (const [i, t] of ['a', 'b', 'c'].entries()) s.decide(NET, t, i);
    s.decide(NET, 'a', 10); // used again: now the most recent
    s.decide(NET, 'd', 11); // evicts b
    assert.deepEqual(s.snapshot().triples.map(([k]) => k), ['c', 'a', 'd']);
  });

  test('a snapshot restores the same decisions; a file that is not one is refused', () => {
    const s = new GreylistState(rules);
    s.decide(NET, 'a', 0);
    s.decide(NET, 'b', 0);
    s.decide(NET, 'b', 5 * MIN);
    const copy = new GreylistState(rules);
    copy.restore(JSON.parse(JSON.stringify(s.snapshot())));
    assert.deepEqual(copy.snapshot(), s.snapshot());
    assert.equal(copy.decide(NET, 'a', 5 * MIN).why, 'retried');
    assert.equal(copy.decide(NET, 'b', 6 * MIN).why, 'known');
    for (const bad of [null, {}, { version: 2, triples: [], networks: [] }, { version: 1, triples: [['a', 'x', 0, 0]], networks: [] }]) {
      assert.throws(() => new GreylistState(rules).restore(bad), JSON.stringify(bad));
    }
  });
});
