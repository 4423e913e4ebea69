// Measures one server over one interval: its CPU time and its peak resident memory.
import { peakRssBytes, resetPeakRss, RssSampler, treeCpuMs, treeRssBytes } from './proc-stats.js';

export interface ServerUsage {
  /** CPU ms (user + system, every thread and child) over the interval. */
  readonly cpuMs: number;
  /** Resident memory at the start of the interval, bytes. */
  readonly rssStart: number;
  /** The largest resident memory during the interval, bytes. */
  readonly rssPeak: number;
  /** Resident memory at the end, bytes. */
  readonly rssEnd: number;
}

/**
 * For a single-process server the kernel's high-water mark (VmHWM, reset at the start through clear_refs) gives
 * the exact peak; for a tree of processes (Postfix) the sum of RSS is sampled every 100 ms.
 */
export class ServerMeter {
  private readonly cpu0: number;
  private readonly rssStart: number;
  private readonly hwmReset: boolean;
  private readonly sampler: RssSampler;

  constructor(
    private readonly pid: number,
    private readonly singleProcess: boolean,
  ) {
    this.rssStart = treeRssBytes(pid);
    this.hwmReset = singleProcess && resetPeakRss(pid);
    this.sampler = new RssSampler(pid);
    this.cpu0 = treeCpuMs(pid);
  }

  stop(): ServerUsage {
    const cpuMs = treeCpuMs(this.pid) - this.cpu0;
    const sampled = this.sampler.stop();
    const rssPeak = this.hwmReset ? Math.max(sampled, peakRssBytes(this.pid)) : sampled;
    return { cpuMs, rssStart: this.rssStart, rssPeak, rssEnd: treeRssBytes(this.pid) };
  }
}

export const mb = (bytes: number): number => Math.round((bytes / 1048576) * 10) / 10;
