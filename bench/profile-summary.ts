// Reads a V8 CPU profile (node --cpu-prof) and ranks functions by self time: where the server spends its CPU.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface ProfileEntry {
  /** "functionName file:line" (file relative to the checkout when inside it). */
  readonly fn: string;
  readonly selfMs: number;
  /** Share of the busy (non-idle) time, in percent. */
  readonly percent: number;
  /** The caller most of that time came through (for a native function: which of our code called it). */
  readonly via: string;
}

export interface ProfileSummary {
  readonly file: string;
  readonly busyMs: number;
  readonly idleMs: number;
  readonly top: readonly ProfileEntry[];
}

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** The newest .cpuprofile in `dir`, summarised; null when there is none (the server was killed, say). */
export async function summariseProfileDir(dir: string, repoRoot: string, topN = 10): Promise<ProfileSummary | null> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.cpuprofile')).sort();
  const last = names[names.length - 1];
  if (last === undefined) return null;
  const file = join(dir, last);
  return summariseProfile(JSON.parse(await readFile(file, 'utf8')) as CpuProfile, file, repoRoot, topN);
}

export function summariseProfile(profile: CpuProfile, file: string, repoRoot: string, topN: number): ProfileSummary {
  const frameOf = new Map<number, string>();
  const parentOf = new Map<number, number>();
  for (const n of profile.nodes) {
    for (const c of n.children ?? []) parentOf.set(c, n.id);
    const { functionName, url, lineNumber } = n.callFrame;
    const where = url === '' ? '' : ` ${url.replace(/^file:\/\//, '').replace(`${repoRoot}/`, '')}:${lineNumber + 1}`;
    frameOf.set(n.id, `${functionName === '' ? '(anonymous)' : functionName}${where}`);
  }
  // Sample i lasts until sample i+1: timeDeltas[i+1] microseconds; the last one until endTime.
  const selfUs = new Map<string, number>();
  const viaUs = new Map<string, Map<string, number>>();
  let t = profile.startTime;
  const stamps = profile.timeDeltas.map((d) => (t += d));
  for (let i = 0; i < profile.samples.length; i++) {
    const dur = (i + 1 < stamps.length ? stamps[i + 1]! : profile.endTime) - stamps[i]!;
    const node = profile.samples[i]!;
    const fn = frameOf.get(node) ?? '(unknown)';
    selfUs.set(fn, (selfUs.get(fn) ?? 0) + Math.max(0, dur));
    const via = callerOf(node, parentOf, frameOf);
    const m = viaUs.get(fn) ?? new Map<string, number>();
    m.set(via, (m.get(via) ?? 0) + Math.max(0, dur));
    viaUs.set(fn, m);
  }
  const idleUs = selfUs.get('(idle)') ?? 0;
  selfUs.delete('(idle)');
  const busyUs = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const top = [...selfUs.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, topN)
    .map(([fn, us]) => ({
      fn,
      selfMs: Math.round(us / 100) / 10,
      percent: busyUs === 0 ? 0 : Math.round((us / busyUs) * 1000) / 10,
      via: [...(viaUs.get(fn) ?? new Map<string, number>()).entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? '',
    }));
  return { file, busyMs: Math.round(busyUs / 1000), idleMs: Math.round(idleUs / 1000), top };
}

/** The nearest caller outside Node's internals (our code or a package), else the direct caller. */
function callerOf(node: number, parentOf: ReadonlyMap<number, number>, frameOf: ReadonlyMap<number, string>): string {
  let direct = '';
  for (let p = parentOf.get(node); p !== undefined; p = parentOf.get(p)) {
    const frame = frameOf.get(p) ?? '';
    if (direct === '') direct = frame;
    if (/ [^ ]+:\d+$/.test(frame) && !/ node:/.test(frame)) return frame;
  }
  return direct;
}
