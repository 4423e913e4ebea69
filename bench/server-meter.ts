// Measures one server over one interval: its CPU time and its peak resident memory.
import { peakRssBytes, resetPeakRss, RssSampler, threadCpuMs, treeCpuMs, treePssBytes, treeRssBytes } from './proc-stats.js';

export interface ServerUsage {
  /** CPU ms (user + system, every thread and child) over the interval. */
  readonly cpuMs: number;
  /** Resident memory at the start of the interval, bytes. */
  readonly rssStart: number;
  /** The largest resident memory during the interval, bytes. */
  readonly rssPeak: number;
  /** Resident memory at the end, bytes. */
  readonly rssEnd: number;
  /** A single-process server's CPU ms on its event loop and in its other threads (threadCpuMs); null for a tree of processes. */
  readonly threadCpuMs: Record<string, number> | null;
}

/**
 * For a single-process server the kernel's high-water mark (VmHWM, reset at the start through clear_refs) gives
 * the exact peak; for a tree of processes (Postfix) the sum of their Pss is sampled every 250 ms in a worker thread (a sum of RSS
 * would count the shared code and libraries once per process).
 */
export class ServerMeter {
  private readonly cpu0: number;
  private readonly threads0: Record<string, number> | null;
  private readonly rssStart: number;
  private readonly hwmReset: boolean;
  private readonly sampler: RssSampler | null;

  constructor(
    private readonly pid: number,
    private readonly singleProcess: boolean,
  ) {
    this.rssStart = singleProcess ? treeRssBytes(pid) : treePssBytes(pid);
    this.hwmReset = singleProcess && resetPeakRss(pid);
    this.sampler = this.hwmReset ? null : new RssSampler(pid);
    this.cpu0 = treeCpuMs(pid);
    this.threads0 = singleProcess ? threadCpuMs(pid) : null;
  }

  async stop(): Promise<ServerUsage> {
    const cpuMs = treeCpuMs(this.pid) - this.cpu0;
    const threads = this.threads0 === null ? null : threadCpuMs(this.pid);
    const threadCpu = threads === null || this.threads0 === null ? null : Object.fromEntries(Object.entries(threads).map(([k, v]) => [k, v - (this.threads0?.[k] ?? 0)]));
    const rssPeak = this.sampler === null ? peakRssBytes(this.pid) : await this.sampler.stop();
    return { cpuMs, rssStart: this.rssStart, rssPeak, rssEnd: this.singleProcess ? treeRssBytes(this.pid) : treePssBytes(this.pid), threadCpuMs: threadCpu };
  }
}

export const mb = (bytes: number): number => Math.round((bytes / 1048576) * 10) / 10;
