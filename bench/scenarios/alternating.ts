// Two or three servers that differ in one setting, measured in alternating rounds (A B, B A, A B, B A…) so that the
// shared machine's drift (other work, the page cache, a JIT still warming) falls on every side alike: the figure
// that matters is the ratio of their throughputs, taken over the same minutes. Used by the defences and mail
// authentication scenarios.
import type { BenchContext } from '../context.js';
import type { FacteurProcess } from '../facteur-process.js';
import { cellLoad, type LoadResult } from '../load-generator.js';
import { countFiles, flushDisk, waitForFiles } from '../maildir.js';
import type { MessageBytes } from '../message.js';
import { machineCpuMs } from '../proc-stats.js';
import { round, type Figures, type ScenarioResult } from '../result.js';
import { ServerMeter } from '../server-meter.js';
import { SERVER_WARMUP } from './inbound.js';
import { clientCpu, MEASURE_NOTE } from './load-figures.js';

/** Messages sent to each server of a pair before the measure: --warmup N, else `fallback` (none with --quick). */
export function pairWarmup(ctx: BenchContext, fallback: number): number {
  return ctx.options.quick ? 0 : (ctx.options.warmup ?? fallback);
}

/** Rounds per side: enough alternations to even out a drift, each still long enough to measure. */
export const ROUNDS = 4;

/** What one round of one side did. */
export interface RoundOutcome {
  /** First connection → the last message where it belongs. */
  readonly wallMs: number;
  readonly accepted: number;
  readonly failed: number;
  readonly errors: Readonly<Record<string, number>>;
  /** Anything else a side counts, summed over its rounds (octets delivered…). */
  readonly extra?: Readonly<Record<string, number>>;
}

/** One side: a running server, and how to send it a round of `n` messages. */
export interface AlternatingSide {
  readonly name: string;
  readonly server: FacteurProcess;
  round(n: number): Promise<RoundOutcome>;
}

/** A side's sums over its rounds. */
export interface SideTotals {
  readonly name: string;
  wallMs: number;
  accepted: number;
  failed: number;
  cpuMs: number;
  eventLoopMs: number;
  /** The whole machine's busy and idle CPU time over this side's rounds (machineCpuMs; 0 and 0 without /proc). */
  machineBusyMs: number;
  machineIdleMs: number;
  readonly errors: Record<string, number>;
  readonly extra: Record<string, number>;
  /** Each round's throughput (msg/s), in order: the rounds of two sides side by side show the machine's noise. */
  readonly roundRates: number[];
}

/** A side's totals before its first round. */
function emptyTotals(name: string): SideTotals {
  return { name, wallMs: 0, accepted: 0, failed: 0, cpuMs: 0, eventLoopMs: 0, machineBusyMs: 0, machineIdleMs: 0, errors: {}, extra: {}, roundRates: [] };
}

/** Runs ROUNDS rounds of `perRound` messages on each side, alternating the order, with the disk flushed before each. */
export async function alternate(sides: readonly AlternatingSide[], perRound: number): Promise<SideTotals[]> {
  const totals = new Map<AlternatingSide, SideTotals>(sides.map((s) => [s, emptyTotals(s.name)]));
  for (let r = 0; r < ROUNDS; r++) {
    // A B C, C B A, A B C…: each side goes first and last as often.
    for (const side of r % 2 === 0 ? sides : [...sides].reverse()) {
      const t = totals.get(side) as SideTotals;
      flushDisk();
      const meter = new ServerMeter(side.server.pid, true);
      const machine0 = machineCpuMs();
      const outcome = await side.round(perRound);
      const machine1 = machineCpuMs();
      const usage = await meter.stop();
      if (machine0 !== null && machine1 !== null) {
        t.machineBusyMs += machine1.busyMs - machine0.busyMs;
        t.machineIdleMs += machine1.idleMs - machine0.idleMs;
      }
      t.wallMs += outcome.wallMs;
      t.roundRates.push(outcome.wallMs > 0 ? outcome.accepted / (outcome.wallMs / 1000) : 0);
      t.accepted += outcome.accepted;
      t.failed += outcome.failed;
      t.cpuMs += usage.cpuMs;
      t.eventLoopMs += usage.threadCpuMs?.['event loop'] ?? 0;
      for (const [k, n] of Object.entries(outcome.errors)) t.errors[k] = (t.errors[k] ?? 0) + n;
      for (const [k, n] of Object.entries(outcome.extra ?? {})) t.extra[k] = (t.extra[k] ?? 0) + n;
    }
  }
  return sides.map((s) => totals.get(s) as SideTotals);
}

/** A side's throughput (msg/s), CPU and event-loop CPU per message, the machine's CPU per message and idle share. */
export function sideFigures(t: SideTotals): { msgsPerSec: number | null; cpuMsPerMsg: number | null; eventLoopMsPerMsg: number | null; machineCpuMsPerMsg: number | null; machineIdleShare: number | null } {
  const per = (x: number) => (t.accepted > 0 ? round(x / t.accepted) : null);
  const machineMs = t.machineBusyMs + t.machineIdleMs;
  return {
    msgsPerSec: t.wallMs > 0 ? round(t.accepted / (t.wallMs / 1000)) : null,
    cpuMsPerMsg: per(t.cpuMs),
    eventLoopMsPerMsg: per(t.eventLoopMs),
    machineCpuMsPerMsg: machineMs > 0 ? per(t.machineBusyMs) : null,
    machineIdleShare: machineMs > 0 ? round(t.machineIdleMs / machineMs) : null,
  };
}

/**
 * The lowest and highest ratio `a` / `b` of one round to the same round of the other side (a round and its pair
 * ran within seconds of each other): how far the machine's noise moves a single round.
 */
export function roundRatioRange(a: SideTotals, b: SideTotals): { roundRatioMin: number | null; roundRatioMax: number | null } {
  const ratios = a.roundRates.flatMap((rate, i) => {
    const other = b.roundRates[i];
    return other === undefined || other === 0 ? [] : [rate / other];
  });
  return ratios.length === 0 ? { roundRatioMin: null, roundRatioMax: null } : { roundRatioMin: round(Math.min(...ratios)), roundRatioMax: round(Math.max(...ratios)) };
}

/** `a` / `b`, rounded, or null. */
export const ratio = (a: number | null, b: number | null): number | null => (a === null || b === null || b === 0 ? null : round(a / b));

/**
 * A round on an inbound server: `load` sends the messages (its own client settings), then the round lasts until
 * every accepted one is a file in the server's new/ folder. Files from earlier rounds stay: removing thousands of
 * files just before a measure makes each creation in it slower (bench/README.md).
 */
export function inboundRound(server: FacteurProcess, load: (n: number) => Promise<LoadResult>, deadline: number): (n: number) => Promise<RoundOutcome> {
  return async (n) => {
    const base = await countFiles(server.maildirNew);
    const start = Date.now();
    const result = await load(n);
    const arrival = await waitForFiles(server.maildirNew, base + result.accepted, deadline);
    return { wallMs: Math.max(start + (result.endMs - result.startMs), arrival.lastAddedMs) - start, accepted: result.accepted, failed: result.failed, errors: result.errors };
  };
}

/** What an inbound pair sends: the cell's load, with this message, from this sender to this recipient. */
export interface PairLoad {
  readonly sessions: number;
  readonly perConnection: 'one' | 'many';
  readonly messages: number;
  readonly quickMessages: number;
  readonly message: MessageBytes;
  readonly from: string;
  readonly to: string;
}

/**
 * Pairs of inbound servers, a setting off then on, all in alternating rounds of the cell's load (off₁ on₁ off₂ on₂,
 * then backwards…); each side's rounds summed over its servers. With one pair, a process that happens to run slower
 * than its twin (measured: two servers with the same config, started alike, differed by up to 40 % of event-loop CPU
 * per message for a whole run, most of it in system calls: file creation, socket writes) moves the ratio by as much;
 * with more, such a draw falls on both sides.
 */
export async function measureInboundPair(
  ctx: BenchContext,
  load: PairLoad,
  pairs: readonly (readonly [FacteurProcess, FacteurProcess])[],
): Promise<{ readonly off: SideTotals; readonly on: SideTotals; readonly perRound: number; readonly client: NodeJS.CpuUsage }> {
  const { options } = ctx;
  const messages = options.messages ?? (options.quick ? load.quickMessages : load.messages);
  const perRound = Math.max(1, Math.floor(messages / (ROUNDS * pairs.length)));
  const deadline = ctx.deadline();
  ctx.progress(`  facteur: ${ROUNDS} rounds × ${perRound} × ${load.message.size} octets per server, ${pairs.length} pair(s), ${load.sessions} sessions, ${load.perConnection} per connection`);
  const client0 = process.cpuUsage();
  const sides = pairs.flatMap((servers, p) =>
    servers.map((server, i) => {
      const send = cellLoad({ port: server.setup.inboundPort, perConnection: load.perConnection, pipelining: options.pipelining, message: load.message, from: load.from, to: load.to });
      return { name: `${i === 0 ? 'off' : 'on'}${p + 1}`, server, round: inboundRound(server, (n) => send(n, load.sessions), deadline) };
    }),
  );
  const totals = await alternate(sides, perRound);
  const off = mergeTotals('off', totals.filter((_, i) => i % 2 === 0));
  const on = mergeTotals('on', totals.filter((_, i) => i % 2 === 1));
  return { off, on, perRound, client: process.cpuUsage(client0) };
}

/** Several servers' totals as one side's: sums, and their rounds one server after the other (in the same order on both sides). */
export function mergeTotals(name: string, parts: readonly SideTotals[]): SideTotals {
  const out = emptyTotals(name);
  for (const t of parts) {
    out.wallMs += t.wallMs;
    out.accepted += t.accepted;
    out.failed += t.failed;
    out.cpuMs += t.cpuMs;
    out.eventLoopMs += t.eventLoopMs;
    out.machineBusyMs += t.machineBusyMs;
    out.machineIdleMs += t.machineIdleMs;
    for (const [k, n] of Object.entries(t.errors)) out.errors[k] = (out.errors[k] ?? 0) + n;
    for (const [k, n] of Object.entries(t.extra)) out.extra[k] = (out.extra[k] ?? 0) + n;
    out.roundRates.push(...t.roundRates);
  }
  return out;
}

/** The figures of a pair: the "on" side's as the scenario's own, the "off" side's beside them, their ratio and its target. */
export function pairFigures(off: SideTotals, on: SideTotals, targetRatio: number, client: NodeJS.CpuUsage): Figures {
  const offF = sideFigures(off);
  const onF = sideFigures(on);
  return {
    accepted: on.accepted,
    wallSeconds: round(on.wallMs / 1000),
    msgsPerSec: onF.msgsPerSec,
    serverCpuMsPerMsg: onF.cpuMsPerMsg,
    eventLoopCpuMsPerMsg: onF.eventLoopMsPerMsg,
    offMsgsPerSec: offF.msgsPerSec,
    offServerCpuMsPerMsg: offF.cpuMsPerMsg,
    offEventLoopCpuMsPerMsg: offF.eventLoopMsPerMsg,
    onOffRatio: ratio(onF.msgsPerSec, offF.msgsPerSec),
    ...roundRatioRange(on, off),
    machineCpuMsPerMsg: onF.machineCpuMsPerMsg,
    offMachineCpuMsPerMsg: offF.machineCpuMsPerMsg,
    machineIdleShare: onF.machineIdleShare,
    offMachineIdleShare: offF.machineIdleShare,
    targetRatio,
    clientCpuMsPerMsg: clientCpu(client, off.accepted + on.accepted),
  };
}

/** "<what> off: 3 messages refused or failed: {...}" for each side that had failures. */
export function failures(what: string, sides: readonly SideTotals[]): string[] {
  return sides.flatMap((s) => (s.failed > 0 ? [`${what} ${s.name}: ${s.failed} messages refused or failed: ${JSON.stringify(s.errors)}`] : []));
}

/** How an inbound pair's result describes itself. */
export interface PairWords {
  /** What is off on one side and on on the other, for the problems and the method ("the checks"). */
  readonly what: string;
  /** The message, when more than its size says ("DKIM-signed by …"), or "". */
  readonly message: string;
  /** The two sides' settings and what else the method should say ("inbound.verify off and on (…)"). */
  readonly sides: string;
  readonly targetRatio: number;
  /** The warm-up messages each server had (for the method), when not warmServer's. */
  readonly warmup?: number;
}

/** Inbound pairs measured (measureInboundPair) as a scenario's result: the "on" side's figures, the "off" side's beside. */
export async function inboundPairResult(ctx: BenchContext, id: string, load: PairLoad, pairs: readonly (readonly [FacteurProcess, FacteurProcess])[], words: PairWords): Promise<Omit<ScenarioResult, 'target' | 'profile'>> {
  const { off, on, perRound, client } = await measureInboundPair(ctx, load, pairs);
  const servers = pairs.length === 1 ? 'two fresh servers' : `${pairs.length} pairs of fresh servers (measured together, so that one server's luck falls on both sides)`;
  const problems = failures(words.what, [off, on]);
  const warmed = words.warmup ?? (ctx.options.quick || ctx.options.warmup === 0 ? 0 : SERVER_WARMUP); // as warmServer does
  return {
    id,
    kind: 'inbound',
    ok: problems.length === 0,
    problems,
    method:
      `${ROUNDS} rounds of ${perRound} messages of ${load.message.size} octets${words.message === '' ? '' : ` (${words.message})`} on each of ${servers} ` +
      `(${warmed} warm-up messages each), ${words.sides}, alternating off/on so that drift falls on both; ${load.sessions} parallel sessions, ` +
      `${load.perConnection === 'one' ? 'a new connection per message' : 'all of a session’s messages over one connection'}; ` +
      `msgsPerSec and serverCpuMsPerMsg are the side with ${words.what} on; ${MEASURE_NOTE}`,
    params: { messages: perRound * ROUNDS * pairs.length, sessions: load.sessions, messageSize: load.message.size, perConnection: load.perConnection, pipelining: ctx.options.pipelining, rounds: ROUNDS, pairs: pairs.length },
    figures: pairFigures(off, on, words.targetRatio, client),
    errors: { ...off.errors, ...on.errors },
  };
}
