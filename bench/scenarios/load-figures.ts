// Figures shared by the scenarios that send messages: rates, latency percentiles, server CPU and memory.
import { percentile, type LoadResult } from '../load-generator.js';
import { round } from '../result.js';
import { mb, type ServerUsage } from '../server-meter.js';

/** `wallSeconds`: from the first connection to the moment every message was where it belongs. */
export function deliveryFigures(load: LoadResult, messageSize: number, wallSeconds: number, usage: ServerUsage): Record<string, number | null> {
  const acceptSeconds = (load.endMs - load.startMs) / 1000;
  const n = load.accepted;
  return {
    accepted: n,
    failed: load.failed,
    connections: load.connections,
    acceptSeconds: round(acceptSeconds),
    wallSeconds: round(wallSeconds),
    msgsPerSec: wallSeconds > 0 ? round(n / wallSeconds) : null,
    mbPerSec: wallSeconds > 0 ? round((n * messageSize) / wallSeconds / 1e6) : null,
    latencyP50Ms: nullable(percentile(load.dataLatenciesMs, 0.5)),
    latencyP99Ms: nullable(percentile(load.dataLatenciesMs, 0.99)),
    latencyMaxMs: nullable(percentile(load.dataLatenciesMs, 1)),
    serverCpuMs: round(usage.cpuMs),
    serverCpuMsPerMsg: n > 0 ? round(usage.cpuMs / n) : null,
    rssStartMb: mb(usage.rssStart),
    peakRssMb: mb(usage.rssPeak),
    ...threadFigures(usage, n),
  };
}

/**
 * A single-process server's CPU per message on its event loop (one core at most: the first limit a Node.js server
 * meets) and in its other threads (the thread pool's file I/O, fsync and signing; V8's compiler and GC helpers).
 * Nothing for a tree of processes.
 */
function threadFigures(usage: ServerUsage, n: number): Record<string, number | null> {
  const t = usage.threadCpuMs;
  if (t === null || n === 0) return {};
  return { eventLoopCpuMsPerMsg: round((t['event loop'] ?? 0) / n), otherThreadsCpuMsPerMsg: round((t['other threads'] ?? 0) / n) };
}

const nullable = (x: number): number | null => (Number.isNaN(x) ? null : round(x));

export const MEASURE_NOTE =
  'sync(1) just before the measure; server CPU = utime+stime of the server process tree from /proc/<pid>/stat (children reaped included); ' +
  'peak RSS = VmHWM of /proc/<pid>/status reset through clear_refs at the start (facteur), or the largest sum of ' +
  'Pss (smaps_rollup) over the tree sampled every 250 ms in a worker thread (Postfix); latency = last octet of the final dot written → reply to DATA; ' +
  'MB = 10^6 octets';

/** The load generator's own CPU per message (this process): shows whether the client could be the bottleneck. */
export function clientCpu(usage: NodeJS.CpuUsage, messages: number): number | null {
  return messages > 0 ? round((usage.user + usage.system) / 1000 / messages) : null;
}
