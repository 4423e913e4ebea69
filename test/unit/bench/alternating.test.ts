// The bench's alternating rounds (bench/scenarios/alternating.ts): each side goes first as often as last, and its
// rounds add up; the ratio helpers, the range of one round's ratio to its pair's among them.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { FacteurProcess } from '../../../bench/facteur-process.js';
import { machineCpuMs } from '../../../bench/proc-stats.js';
import { alternate, mergeTotals, ratio, ROUNDS, roundRatioRange, sideFigures, type AlternatingSide, type SideTotals } from '../../../bench/scenarios/alternating.js';

/** A side that records when it ran and says it took `ms` per round for `n` messages (this process stands for its server). */
function side(name: string, ms: number, calls: string[]): AlternatingSide {
  return {
    name,
    server: { pid: process.pid } as FacteurProcess,
    round: async (n) => {
      calls.push(name);
      const errors: Record<string, number> = name === 'b' ? { timeout: 1 } : {};
      return { wallMs: ms, accepted: n, failed: name === 'b' ? 1 : 0, errors, extra: { octets: n * 10 } };
    },
  };
}

describe('alternate', () => {
  test('A B, B A, …: each side first and last as often; totals summed per side', async () => {
    const calls: string[] = [];
    const [a, b] = await alternate([side('a', 1000, calls), side('b', 2000, calls)], 50);
    assert.deepEqual(calls, ['a', 'b', 'b', 'a', 'a', 'b', 'b', 'a'].slice(0, ROUNDS * 2));
    assert.equal(a?.accepted, 50 * ROUNDS);
    assert.equal(a?.wallMs, 1000 * ROUNDS);
    assert.equal(b?.failed, ROUNDS);
    assert.deepEqual(b?.errors, { timeout: ROUNDS });
    assert.deepEqual(a?.extra, { octets: 500 * ROUNDS });
    assert.ok((a?.cpuMs ?? -1) >= 0);
    assert.equal(sideFigures(a!).msgsPerSec, 50);
    assert.equal(ratio(sideFigures(b!).msgsPerSec, sideFigures(a!).msgsPerSec), 0.5);
  });

  test("the machine's CPU per message and idle share, from its busy and idle time over a side's rounds", async () => {
    const t: SideTotals = { name: 'x', wallMs: 1000, accepted: 100, failed: 0, cpuMs: 0, eventLoopMs: 0, machineBusyMs: 150, machineIdleMs: 50, errors: {}, extra: {}, roundRates: [] };
    assert.equal(sideFigures(t).machineCpuMsPerMsg, 1.5);
    assert.equal(sideFigures(t).machineIdleShare, 0.25);
    assert.equal(sideFigures({ ...t, machineBusyMs: 0, machineIdleMs: 0 }).machineCpuMsPerMsg, null); // no /proc/stat
  });

  test('machineCpuMs: on Linux, busy time grows while this process computes', { skip: process.platform !== 'linux' && 'reads /proc/stat' }, () => {
    const before = machineCpuMs();
    assert.ok(before !== null);
    const end = Date.now() + 50;
    while (Date.now() < end); // 50 ms of CPU: at least that much busy time on the machine (ticks of 10 ms)
    const after = machineCpuMs();
    assert.ok(after !== null && after.busyMs - before.busyMs >= 30, `busy ${after?.busyMs} - ${before.busyMs}`);
  });

  test('three sides: A B C, C B A, …', async () => {
    const calls: string[] = [];
    await alternate([side('a', 1, calls), side('b', 1, calls), side('c', 1, calls)], 1);
    assert.deepEqual(calls.slice(0, 6), ['a', 'b', 'c', 'c', 'b', 'a']);
  });

  test('each round keeps its own rate; the range of the rounds\' ratios, round against round', async () => {
    const calls: string[] = [];
    const [a, b] = await alternate([side('a', 1000, calls), side('b', 2000, calls)], 50);
    assert.deepEqual(a?.roundRates, Array(ROUNDS).fill(50));
    assert.deepEqual(roundRatioRange(b!, a!), { roundRatioMin: 0.5, roundRatioMax: 0.5 });
    const totals = (roundRates: number[]): SideTotals => ({ name: 'x', wallMs: 0, accepted: 0, failed: 0, cpuMs: 0, eventLoopMs: 0, machineBusyMs: 0, machineIdleMs: 0, errors: {}, extra: {}, roundRates });
    assert.deepEqual(roundRatioRange(totals([80, 90, 60]), totals([100, 100, 100])), { roundRatioMin: 0.6, roundRatioMax: 0.9 });
    assert.deepEqual(roundRatioRange(totals([80]), totals([0])), { roundRatioMin: null, roundRatioMax: null });
  });

  test("mergeTotals: several servers' rounds as one side's, sums and rounds in server order", () => {
    const t = (rates: number[], accepted: number): SideTotals => ({ name: 'x', wallMs: 1000, accepted, failed: 1, cpuMs: 10, eventLoopMs: 5, machineBusyMs: 20, machineIdleMs: 2, errors: { timeout: 1 }, extra: { octets: 7 }, roundRates: rates });
    const m = mergeTotals('off', [t([1, 2], 100), t([3, 4], 300)]);
    assert.deepEqual(m, { name: 'off', wallMs: 2000, accepted: 400, failed: 2, cpuMs: 20, eventLoopMs: 10, machineBusyMs: 40, machineIdleMs: 4, errors: { timeout: 2 }, extra: { octets: 14 }, roundRates: [1, 2, 3, 4] });
    assert.equal(sideFigures(m).msgsPerSec, 200); // messages over the summed wall time: each server's rounds weigh by their length
  });

  test('ratio: null when either side has no figure or the base is 0', () => {
    assert.equal(ratio(null, 1), null);
    assert.equal(ratio(1, null), null);
    assert.equal(ratio(1, 0), null);
    assert.equal(ratio(3, 4), 0.75);
  });
});
