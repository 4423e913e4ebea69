// CPU time and memory of a server's process tree, read from /proc (Linux), so the figures are the server's own.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

/** Clock ticks per second of the utime/stime fields of /proc/<pid>/stat (USER_HZ, 100 on every Linux we know). */
const TICKS_PER_SECOND = readTicksPerSecond();

function readTicksPerSecond(): number {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isInteger(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
}

interface StatFields {
  readonly ppid: number;
  /** utime + stime of the process itself, in ticks. */
  readonly ownTicks: number;
  /** cutime + cstime: children that exited and were reaped (Postfix's smtpd, cleanup, virtual...). */
  readonly reapedTicks: number;
}

function readStat(pid: number): StatFields | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  // The command name is in parentheses and may hold spaces: split after the last ')'. Fields then start at 3 (state).
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return {
    ppid: Number(f[1]),
    ownTicks: Number(f[11]) + Number(f[12]),
    reapedTicks: Number(f[13]) + Number(f[14]),
  };
}

/**
 * The whole machine's CPU milliseconds so far, summed over its CPUs (the first line of /proc/stat): busy (user, nice,
 * system, irq, softirq, steal) and idle (idle, iowait); null where there is no /proc/stat. Over a round, busy per
 * message counts every process that works for it (server, client, sink) and anything else running then.
 */
export function machineCpuMs(): { readonly busyMs: number; readonly idleMs: number } | null {
  let line: string | undefined;
  try {
    line = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0];
  } catch {
    return null;
  }
  const t = (line ?? '').trim().split(/\s+/).slice(1).map(Number);
  if (t.length < 8 || t.some((n) => !Number.isFinite(n))) return null;
  const [user, nice, system, idle, iowait, irq, softirq, steal] = t as [number, number, number, number, number, number, number, number];
  const ms = (ticks: number) => (ticks * 1000) / TICKS_PER_SECOND;
  return { busyMs: ms(user + nice + system + irq + softirq + steal), idleMs: ms(idle + iowait) };
}

/** The pid and every live descendant (a `node:cluster` server, Postfix's master and its children). */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const st = readStat(pid);
    if (st === null) continue;
    const list = children.get(st.ppid);
    if (list === undefined) children.set(st.ppid, [pid]);
    else list.push(pid);
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) out.push(...(children.get(out[i]!) ?? []));
  return out;
}

/**
 * CPU milliseconds (user + system, every thread) spent by the tree so far. Reaped children count through their
 * parent's cutime/cstime, live ones through their own fields, so a difference of two readings is the tree's CPU
 * over the interval even when processes come and go (as long as the root lives).
 */
export function treeCpuMs(root: number): number {
  let ticks = 0;
  for (const pid of processTree(root)) {
    const st = readStat(pid);
    if (st !== null) ticks += st.ownTicks + st.reapedTicks;
  }
  return (ticks * 1000) / TICKS_PER_SECOND;
}

/**
 * CPU milliseconds so far of one process's threads: its main thread ("event loop" for a Node.js server) and all the
 * others (Node 20 names every thread "node": the thread pool, V8's compiler and GC helpers cannot be told apart).
 * Threads that ended are not counted, so take both readings while the same threads live (a server's do).
 */
export function threadCpuMs(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1');
    } catch {
      continue;
    }
    const kind = Number(tid) === pid ? 'event loop' : 'other threads';
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    out[kind] = (out[kind] ?? 0) + ((Number(f[11]) + Number(f[12])) * 1000) / TICKS_PER_SECOND;
  }
  return out;
}

/** A "VmRSS:  1234 kB" style field of /proc/<pid>/status, in bytes; 0 if the process is gone. */
function statusBytes(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'latin1');
  } catch {
    return 0;
  }
  const at = text.indexOf(`${field}:`);
  if (at < 0) return 0;
  return Number.parseInt(text.slice(at + field.length + 1).trim(), 10) * 1024;
}

/** Resident memory of the whole tree now, in bytes. */
export function treeRssBytes(root: number): number {
  let sum = 0;
  for (const pid of processTree(root)) sum += statusBytes(pid, 'VmRSS');
  return sum;
}

/** The kernel's high-water mark of one process's resident memory, in bytes. */
export function peakRssBytes(pid: number): number {
  return statusBytes(pid, 'VmHWM');
}

/** Resets VmHWM to the current RSS (Linux ≥ 4.0, same user or root); false when the kernel refuses. */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/**
 * Proportional memory of the whole tree now, in bytes: each process's Pss (/proc/<pid>/smaps_rollup), where a page
 * shared by k processes counts 1/k in each, so a sum over many processes (Postfix) counts shared code once.
 * Falls back to VmRSS for a process whose smaps we may not read.
 */
export function treePssBytes(root: number): number {
  let sum = 0;
  for (const pid of processTree(root)) {
    let text = '';
    try {
      text = readFileSync(`/proc/${pid}/smaps_rollup`, 'latin1');
    } catch {
      // not ours to read, or gone
    }
    const at = text.indexOf('\nPss:');
    sum += at < 0 ? statusBytes(pid, 'VmRSS') : Number.parseInt(text.slice(at + 5).trim(), 10) * 1024;
  }
  return sum;
}

/**
 * Samples the tree's memory (Pss) on an interval, keeping the maximum: the peak of a multi-process server. It runs
 * in a worker thread: reading smaps of a hundred Postfix processes takes tens of milliseconds, which would stall
 * the load generator's event loop and skew the very figures being measured.
 */
export class RssSampler {
  private readonly worker: Worker;

  constructor(root: number, intervalMs = 250) {
    this.worker = new Worker(new URL('./rss-sampler-worker.js', import.meta.url), { workerData: { root, intervalMs } });
  }

  /** Stops sampling; resolves with the largest tree Pss seen, in bytes (0 if the worker failed). */
  async stop(timeoutMs = 10_000): Promise<number> {
    const answer = new Promise<number>((resolve) => {
      const timer = setTimeout(() => resolve(0), timeoutMs);
      this.worker.once('message', (max: number) => {
        clearTimeout(timer);
        resolve(max);
      });
      this.worker.once('error', () => {
        clearTimeout(timer);
        resolve(0);
      });
    });
    this.worker.postMessage('stop');
    const max = await answer;
    await this.worker.terminate();
    return max;
  }
}

/** The soft and hard limits on open files of a process, from /proc/<pid>/limits. */
export function openFilesLimit(pid: number | 'self' = 'self'): { soft: number; hard: number } {
  const text = readFileSync(`/proc/${pid}/limits`, 'latin1');
  const line = text.split('\n').find((l) => l.startsWith('Max open files')) ?? '';
  const [soft, hard] = line.replace('Max open files', '').trim().split(/\s+/);
  const num = (s: string | undefined) => (s === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(s));
  return { soft: num(soft), hard: num(hard) };
}
