// When each delivery job runs: a min-heap of due times behind one timer, the limits on jobs in flight (in all and
// towards one domain), and the due jobs held back by their domain's limit. It knows a job by its item and domain only.
import { JobHeap, type HeapEntry } from './job-heap.js';
import { MAX_TIMER_MS, type Timers } from '../time/timers.js';

/** One job: the recipients of one domain of one queued item, tried together. */
export interface Job {
  readonly id: string;
  readonly domain: string;
}

export interface DispatcherOptions {
  /** Jobs in flight at once, in all and towards one domain. */
  readonly concurrency: number;
  readonly concurrencyPerDomain: number;
  /** Milliseconds since the epoch. */
  readonly now: () => number;
  readonly timers: Timers;
  /** Starts a due job; its slot is taken until the promise settles. null: nothing to do after all (no slot taken). */
  readonly launch: (job: Job) => Promise<void> | null;
}

export class Dispatcher {
  readonly #opts: DispatcherOptions;
  readonly #heap = new JobHeap();
  /** The current seq of each scheduled job ("id domain"); a heap entry with another seq is stale. */
  readonly #scheduled = new Map<string, number>();
  #seq = 0;
  /** Due jobs held back by concurrencyPerDomain, put back when a job of that domain ends. */
  readonly #waiting = new Map<string, HeapEntry[]>();
  readonly #perDomain = new Map<string, number>();
  #active = 0;
  #timer: unknown = null;
  #timerDue: number | null = null;
  #started = false;
  #stopped = false;
  #pumping = false;

  constructor(opts: DispatcherOptions) {
    this.#opts = opts;
  }

  /** Launches every job due now that the limits allow, and from then on each job when it comes due. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#pump();
  }

  /** Launches nothing more; jobs in flight run to their end. */
  stop(): void {
    this.#stopped = true;
    this.#clearTimer();
  }

  /** The job becomes due at `due` (ms), replacing any earlier time it had. */
  schedule(job: Job, due: number): void {
    this.#seq += 1;
    this.#scheduled.set(keyOf(job), this.#seq);
    this.#heap.push({ due, id: job.id, domain: job.domain, seq: this.#seq });
    this.#pump();
  }

  /** The job is no longer scheduled (a job in flight is not stopped). */
  cancel(job: Job): void {
    this.#scheduled.delete(keyOf(job));
  }

  /** Launches every due job the limits allow, then sets the timer for the next one. */
  #pump(): void {
    if (!this.#started || this.#stopped || this.#pumping) return;
    this.#pumping = true;
    try {
      const now = this.#opts.now();
      while (this.#active < this.#opts.concurrency) {
        const entry = this.#peekValid();
        if (entry === null || entry.due > now) break;
        this.#heap.pop();
        if ((this.#perDomain.get(entry.domain) ?? 0) >= this.#opts.concurrencyPerDomain) {
          const waiting = this.#waiting.get(entry.domain) ?? [];
          waiting.push(entry);
          this.#waiting.set(entry.domain, waiting);
          continue;
        }
        this.#launch(entry);
      }
    } finally {
      this.#pumping = false;
    }
    this.#arm();
  }

  #launch(entry: HeapEntry): void {
    this.#scheduled.delete(keyOf(entry));
    const running = this.#opts.launch({ id: entry.id, domain: entry.domain });
    if (running === null) return;
    this.#active += 1;
    this.#perDomain.set(entry.domain, (this.#perDomain.get(entry.domain) ?? 0) + 1);
    void running.catch(() => undefined).then(() => this.#release(entry.domain));
  }

  /** Frees a slot of `domain`, puts back the jobs that were waiting for it, and launches what is due. */
  #release(domain: string): void {
    this.#active -= 1;
    const left = (this.#perDomain.get(domain) ?? 1) - 1;
    if (left > 0) this.#perDomain.set(domain, left);
    else this.#perDomain.delete(domain);
    const waiting = this.#waiting.get(domain);
    if (waiting !== undefined) {
      this.#waiting.delete(domain);
      for (const entry of waiting) this.#heap.push(entry);
    }
    this.#pump();
  }

  #peekValid(): HeapEntry | null {
    for (let entry = this.#heap.peek(); entry !== null; entry = this.#heap.peek()) {
      if (this.#scheduled.get(keyOf(entry)) === entry.seq) return entry;
      this.#heap.pop();
    }
    return null;
  }

  /** One timer, for the earliest due job; none while every slot is taken (a job that ends pumps). */
  #arm(): void {
    const next = this.#active < this.#opts.concurrency ? this.#peekValid() : null;
    const due = next?.due ?? null;
    if (due === this.#timerDue && this.#timer !== null) return;
    this.#clearTimer();
    if (due === null || this.#stopped) return;
    // A due time further away than a timer can wait is reached by re-arming when it fires.
    const delay = Math.min(Math.max(due - this.#opts.now(), 0), MAX_TIMER_MS);
    this.#timerDue = due;
    this.#timer = this.#opts.timers.setTimeout(() => {
      this.#timer = null;
      this.#timerDue = null;
      this.#pump();
    }, delay);
  }

  #clearTimer(): void {
    if (this.#timer !== null) this.#opts.timers.clearTimeout(this.#timer);
    this.#timer = null;
    this.#timerDue = null;
  }
}

const keyOf = (job: Job): string => `${job.id} ${job.domain}`;
