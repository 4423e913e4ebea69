// The report: Markdown tables for the terminal (and the README), and the JSON document saved under bench/results/.
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, release, totalmem } from 'node:os';
import { join } from 'node:path';
import type { BenchOptions } from './options.js';
import { round, type ScenarioResult } from './result.js';
import { formatSharedScripts, type SharedScriptResult } from './shared-scripts.js';

export interface Comparison {
  readonly id: string;
  readonly postfixMsgsPerSec: number | null;
  readonly facteurMsgsPerSec: number | null;
  /** facteur / Postfix: above 1, facteur is faster. */
  readonly throughputRatio: number | null;
  readonly postfixCpuMsPerMsg: number | null;
  readonly facteurCpuMsPerMsg: number | null;
  /** facteur / Postfix: below 1, facteur spends less CPU per message. */
  readonly cpuRatio: number | null;
}

export interface BenchDocument {
  readonly suite: 'facteur-bench';
  readonly version: 1;
  readonly date: string;
  readonly command: string;
  readonly machine: { readonly cpus: number; readonly cpuModel: string; readonly memoryMb: number; readonly kernel: string; readonly node: string };
  readonly options: BenchOptions;
  readonly results: readonly ScenarioResult[];
  readonly comparison: readonly Comparison[];
  /** The shared side-by-side scripts' results (--compare-postfix), empty when they were not run. */
  readonly sharedScripts: readonly SharedScriptResult[];
}

export function makeDocument(options: BenchOptions, results: readonly ScenarioResult[], date: Date, sharedScripts: readonly SharedScriptResult[] = []): BenchDocument {
  return {
    suite: 'facteur-bench',
    version: 1,
    date: date.toISOString(),
    command: ['npm run bench --', ...process.argv.slice(2)].join(' '),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', memoryMb: Math.round(totalmem() / 1048576), kernel: release(), node: process.version },
    options,
    results,
    comparison: compare(results),
    sharedScripts,
  };
}

/** Pairs each scenario measured on both servers. */
export function compare(results: readonly ScenarioResult[]): Comparison[] {
  const out: Comparison[] = [];
  for (const f of results.filter((r) => r.target === 'facteur')) {
    const p = results.find((r) => r.target === 'postfix' && r.id === f.id);
    if (p === undefined) continue;
    const ratio = (a: number | null | undefined, b: number | null | undefined) => (a == null || b == null || b === 0 ? null : round(a / b));
    out.push({
      id: f.id,
      postfixMsgsPerSec: p.figures.msgsPerSec ?? null,
      facteurMsgsPerSec: f.figures.msgsPerSec ?? null,
      throughputRatio: ratio(f.figures.msgsPerSec, p.figures.msgsPerSec),
      postfixCpuMsPerMsg: p.figures.serverCpuMsPerMsg ?? null,
      facteurCpuMsPerMsg: f.figures.serverCpuMsPerMsg ?? null,
      cpuRatio: ratio(f.figures.serverCpuMsPerMsg, p.figures.serverCpuMsPerMsg),
    });
  }
  return out;
}

export async function saveDocument(doc: BenchDocument, dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, `bench-${doc.date.replace(/[:.]/g, '-')}.json`);
  await writeFile(file, `${JSON.stringify(doc, null, 2)}\n`);
  return file;
}

type Column = readonly [title: string, cell: (r: ScenarioResult) => string];

const num = (key: string, digits = 1) => (r: ScenarioResult) => {
  const v = r.figures[key];
  return v === undefined || v === null ? '–' : v.toFixed(digits);
};
const ok = (r: ScenarioResult) => (r.ok ? 'ok' : 'FAIL');

const COLUMNS: Record<ScenarioResult['kind'], readonly Column[]> = {
  inbound: messageColumns(),
  outbound: messageColumns(),
  idle: [
    ['scenario', (r) => r.id],
    ['held', num('held', 0)],
    ['RSS before MB', num('rssBeforeMb')],
    ['RSS held MB', num('rssHeldMb')],
    ['KB/conn', num('rssPerConnectionKb')],
    ['new session p50 ms', num('newSessionP50Ms', 2)],
    ['p99 ms', num('newSessionP99Ms', 2)],
    ['ok', ok],
  ],
  big: [
    ['scenario', (r) => r.id],
    ['size MB', (r) => (Number(r.params.messageSize ?? 0) / 1e6).toFixed(1)],
    ['wall s', num('wallSeconds', 2)],
    ['MB/s', num('mbPerSec')],
    ['RSS start MB', num('rssStartMb')],
    ['peak MB', num('peakRssMb')],
    ['growth MB', num('rssGrowthMb')],
    ['CPU ms', num('serverCpuMs', 0)],
    ['ok', ok],
  ],
  filter: [
    ['scenario', (r) => r.id],
    ['msgs', num('accepted', 0)],
    ['at once', (r) => String(r.params.sessions ?? '–')],
    ['size', (r) => String(r.params.messageSize ?? '–')],
    ['msg/s', num('msgsPerSec', 0)],
    ['p50 ms', num('latencyP50Ms', 2)],
    ['p99 ms', num('latencyP99Ms', 2)],
    ['rspamd CPU ms/msg', num('serverCpuMsPerMsg', 3)],
    ['check CPU ms/msg', num('clientCpuMsPerMsg', 3)],
    ['ok', (r) => (r.params.skipped !== undefined ? 'skipped' : ok(r))],
  ],
  queue: [
    ['scenario', (r) => r.id],
    ['items', num('items', 0)],
    ['ready s', num('readySeconds', 2)],
    ['CPU ms to ready', num('cpuMsToReady', 0)],
    ['RSS ready MB', num('rssReadyMb')],
    ['RSS +2 s MB', num('rssSettledMb')],
    ['peak MB', num('peakRssMb')],
    ['ok', ok],
  ],
};

function messageColumns(): Column[] {
  return [
    ['scenario', (r) => r.id],
    ['server', (r) => r.target],
    ['msgs', num('accepted', 0)],
    ['sess', (r) => String(r.params.sessions ?? '–')],
    ['size', (r) => String(r.params.messageSize ?? '–')],
    ['wall s', num('wallSeconds', 2)],
    ['msg/s', num('msgsPerSec', 0)],
    ['MB/s', num('mbPerSec', 2)],
    ['p50 ms', num('latencyP50Ms', 2)],
    ['p99 ms', num('latencyP99Ms', 2)],
    ['CPU ms/msg', num('serverCpuMsPerMsg', 3)],
    ['loop ms/msg', num('eventLoopCpuMsPerMsg', 3)],
    ['peak RSS MB', num('peakRssMb')],
    ['ok', ok],
  ];
}

function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  return [line(head), `|${widths.map((w, i) => (i === 0 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`, ...rows.map(line)].join('\n');
}

/** The whole report as text: one table per kind of scenario, the comparison, problems, profiles. */
export function formatReport(doc: BenchDocument): string {
  const parts: string[] = [];
  const m = doc.machine;
  parts.push(`facteur bench, ${doc.date}, ${m.cpus} × ${m.cpuModel}, ${m.memoryMb} MB, Linux ${m.kernel}, Node ${m.node}\ncommand: ${doc.command}`);
  for (const kind of ['inbound', 'outbound', 'idle', 'big', 'queue', 'filter'] as const) {
    const rows = doc.results.filter((r) => r.kind === kind);
    if (rows.length === 0) continue;
    const cols = COLUMNS[kind];
    parts.push(`${kind}:\n${table(cols.map((c) => c[0]), rows.map((r) => cols.map((c) => c[1](r))))}`);
  }
  if (doc.comparison.length > 0) {
    const f = (v: number | null, d: number) => (v === null ? '–' : v.toFixed(d));
    parts.push(
      `facteur / Postfix, same run, same client (throughput: above 1 is better; CPU per message: below 1 is better):\n` +
        table(
          ['scenario', 'Postfix msg/s', 'facteur msg/s', 'ratio', 'Postfix CPU ms/msg', 'facteur CPU ms/msg', 'ratio'],
          doc.comparison.map((c) => [c.id, f(c.postfixMsgsPerSec, 0), f(c.facteurMsgsPerSec, 0), f(c.throughputRatio, 2), f(c.postfixCpuMsPerMsg, 3), f(c.facteurCpuMsPerMsg, 3), f(c.cpuRatio, 2)]),
        ),
    );
  }
  if (doc.sharedScripts.length > 0) parts.push(formatSharedScripts(doc.sharedScripts));
  const pairs = alternatingRatios(doc.results);
  if (pairs.length > 0) {
    parts.push(
      `a setting off and on, servers measured in alternating rounds (throughput ratio on / off, the lowest and highest of one round to its pair's, and its target; loop = the event loop's CPU; ` +
        `machine = every process's CPU per message, idle = the machine's idle share, off / on: a machine without idle time allows a ratio of about off machine / on machine):\n` +
        table(['scenario', 'off msg/s', 'on msg/s', 'ratio', 'rounds', 'target', 'off CPU ms/msg', 'on CPU ms/msg', 'off loop', 'on loop', 'off machine', 'on machine', 'idle'], pairs),
    );
  }
  const problems = doc.results.filter((r) => r.problems.length > 0);
  if (problems.length > 0) parts.push(`problems:\n${problems.map((r) => `  ${r.id} (${r.target}): ${r.problems.join('; ')}`).join('\n')}`);
  for (const r of doc.results) {
    if (r.profile === null) continue;
    const rows = r.profile.top.map((e) => [e.fn, e.selfMs.toFixed(1), e.percent.toFixed(1), e.via]);
    parts.push(`CPU profile of ${r.id} (busy ${r.profile.busyMs} ms, idle ${r.profile.idleMs} ms; ${r.profile.file}):\n${table(['function (self time)', 'ms', '% of busy', 'mostly called from'], rows)}`);
  }
  parts.push(LEGEND);
  return parts.join('\n\n');
}

/** Rows for each scenario measured in alternation (defences-…, mailauth-…): its sides and their ratio. */
function alternatingRatios(results: readonly ScenarioResult[]): string[][] {
  const f = (v: number | null | undefined, d: number) => (v == null ? '–' : v.toFixed(d));
  return results
    .filter((r) => r.figures.onOffRatio !== undefined)
    .flatMap((r) => {
      const x = r.figures;
      const target = f(x.targetRatio, 2);
      const rounds = x.roundRatioMin == null ? '–' : `${f(x.roundRatioMin, 2)}–${f(x.roundRatioMax, 2)}`;
      // The machine's idle share, off / on.
      const pct = (v: number | null | undefined) => (v == null ? '–' : `${Math.round(v * 100)}%`);
      const idle = (on: number | null | undefined) => (on == null ? '–' : `${pct(x.offMachineIdleShare)} / ${pct(on)}`);
      const row = [r.id, f(x.offMsgsPerSec, 0), f(x.msgsPerSec, 0), f(x.onOffRatio, 2), rounds, target, f(x.offServerCpuMsPerMsg, 3), f(x.serverCpuMsPerMsg, 3), f(x.offEventLoopCpuMsPerMsg, 3), f(x.eventLoopCpuMsPerMsg, 3), f(x.offMachineCpuMsPerMsg, 3), f(x.machineCpuMsPerMsg, 3), idle(x.machineIdleShare)];
      // The relay's third side: an Ed25519 key alone.
      const ed = x.ed25519MsgsPerSec === undefined ? [] : [[`${r.id} (Ed25519)`, f(x.offMsgsPerSec, 0), f(x.ed25519MsgsPerSec, 0), f(x.ed25519OffRatio, 2), '–', '–', f(x.offServerCpuMsPerMsg, 3), f(x.ed25519ServerCpuMsPerMsg, 3), '', '', f(x.offMachineCpuMsPerMsg, 3), f(x.ed25519MachineCpuMsPerMsg, 3), idle(x.ed25519MachineIdleShare)]];
      return [row, ...ed];
    });
}

const LEGEND = `How to read it (each result's exact method is in the JSON):
- wall s: first connection → the last message where it belongs (a file in the Maildir's new/, or accepted by the sink)
- msg/s, MB/s: messages (octets, MB = 10^6) made durable per second of wall time
- p50/p99 ms: latency of the reply to DATA, from the last octet of the final dot written
- CPU ms/msg: user + system CPU of the server's process tree (/proc/<pid>/stat) over the measure, per message
- loop ms/msg: the part of it on facteur's event loop (its main thread: one core at most)
- peak RSS MB: the server's resident memory high-water mark over the measure (facteur: VmHWM; Postfix: the sum of
  its processes' Pss, sampled)`;
