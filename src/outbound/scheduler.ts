// Decides when each queued message is tried again: a min-heap of due times behind one timer, bounded concurrency, bounces.
//
// The in-memory index is the truth while the server runs; the disk is read at startup and for message bodies,
// and written after every attempt (queue-store.ts). One job = one item's recipients of one domain: one transfer.
import type { OutboundConfig } from '../config/config.js';
import type { Logger } from '../observability/logger.js';
import type { Address } from '../smtp/address.js';
import { retryDelay } from './backoff.js';
import { logAttempt } from './attempt-log.js';
import { queueBounce } from './bounce.js';
import { JobHeap, type Job } from './job-heap.js';
import { Serial } from '../fs/serial.js';
import { systemTimers, type Timers } from './timers.js';
import {
  afterOutcome,
  domainDueTime,
  domainsOf,
  dueTime,
  isActive,
  isFinished,
  recipientKey,
  toQueueEntry,
  type QueueEntry,
  type QueueItem,
  type QueueRecipient,
  type RetryPolicy,
} from './queue-item.js';
import type { QueueStore } from './queue-store.js';
import type { Courier, RecipientOutcome, TransferRequest, TransferResult } from './courier.js';

export interface SchedulerOptions {
  readonly store: QueueStore;
  /** Delivers each attempt (routing-courier.ts in the server); tests pass a fake. */
  readonly courier: Courier;
  readonly logger: Logger;
  readonly hostname: string;
  readonly config: Pick<OutboundConfig, 'retryMin' | 'retryMax' | 'queueLifetime' | 'concurrency' | 'concurrencyPerDomain'>;
  readonly now: () => number;
  readonly timers?: Timers;
  readonly random?: () => number;
}

/** setTimeout's longest delay; a later due time is reached by re-arming. */
const MAX_TIMER = 2 ** 31 - 1;

/** An item and what is happening to it right now. */
interface Tracked {
  item: QueueItem;
  /** Domains with a transfer in flight. */
  readonly inFlight: Set<string>;
  /** recipientKey of recipients being tried (shown as "pending" by `queue list`). */
  readonly trying: Set<string>;
  /** Removed by `queue delete`: results still in flight are dropped. */
  deleted: boolean;
  finishing: boolean;
  /** Writes of this item's files, one after the other, so that an older state never lands after a newer one. */
  readonly writes: Serial;
}

export class Scheduler {
  readonly #store: QueueStore;
  readonly #courier: Courier;
  readonly #logger: Logger;
  readonly #hostname: string;
  readonly #config: SchedulerOptions['config'];
  readonly #now: () => number;
  readonly #timers: Timers;
  readonly #policy: RetryPolicy;
  readonly #items = new Map<string, Tracked>();
  readonly #heap = new JobHeap();
  /** Current seq of each job ("id domain"); a heap entry with another seq is stale. */
  readonly #jobs = new Map<string, number>();
  #seq = 0;
  /** Due jobs held back by concurrencyPerDomain, released when a transfer to that domain ends. */
  readonly #waiting = new Map<string, Job[]>();
  readonly #perDomain = new Map<string, number>();
  #active = 0;
  /** Every attempt or finishing step under way, for close(). */
  readonly #running = new Set<Promise<void>>();
  #timer: unknown = null;
  #timerDue: number | null = null;
  /** Timers that retry a failed finishing step (bounce or removal). */
  readonly #retryTimers = new Set<unknown>();
  #started = false;
  #closing = false;
  /** After close(): results arriving later are dropped (the item is retried after the restart). */
  #stopped = false;

  constructor(opts: SchedulerOptions) {
    this.#store = opts.store;
    this.#courier = opts.courier;
    this.#logger = opts.logger;
    this.#hostname = opts.hostname;
    this.#config = opts.config;
    this.#now = opts.now;
    this.#timers = opts.timers ?? systemTimers;
    const random = opts.random ?? Math.random;
    this.#policy = {
      queueLifetime: opts.config.queueLifetime,
      delay: (attempts) => retryDelay(attempts, { min: opts.config.retryMin, max: opts.config.retryMax, random }),
    };
  }

  /** Takes a committed item (loaded at startup or just queued) into the schedule. */
  add(item: QueueItem): void {
    const tracked: Tracked = { item, inFlight: new Set(), trying: new Set(), deleted: false, finishing: false, writes: new Serial() };
    this.#items.set(item.id, tracked);
    if (isFinished(item)) {
      // Left finished by a crash before its files were removed: bounce if needed and remove now.
      if (this.#started) this.#run(this.#finish(tracked));
      return;
    }
    for (const domain of domainsOf(item)) this.#scheduleDomain(tracked, domain);
  }

  /** Starts attempting: items due now are launched at once. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    for (const t of this.#items.values()) if (isFinished(t.item)) this.#run(this.#finish(t));
    this.#pump();
  }

  /** `queue flush`: every deferred recipient is due now. */
  flush(): void {
    const now = new Date(this.#now()).toISOString();
    for (const t of this.#items.values()) {
      t.item = {
        ...t.item,
        recipients: t.item.recipients.map((r) => (r.status === 'deferred' && !t.trying.has(recipientKey(r)) ? { ...r, nextAttempt: now } : r)),
      };
      for (const domain of domainsOf(t.item)) if (!t.inFlight.has(domain)) this.#scheduleDomain(t, domain);
    }
    this.#pump();
  }

  /**
   * `queue delete`: forgets the item and removes its files, without a bounce. A transfer in flight for it runs
   * to its end, but its result is dropped. Resolves false if the id is not queued.
   */
  async delete(id: string): Promise<boolean> {
    const t = this.#items.get(id);
    if (t === undefined) return false;
    t.deleted = true;
    this.#items.delete(id);
    for (const domain of domainsOf(t.item)) this.#jobs.delete(jobKey(id, domain));
    // After the writes already started, so that none of them brings the .json back. The body may still be
    // read by a transfer in flight: on POSIX an open file outlives its unlinking.
    await t.writes.run(() => this.#store.remove(id));
    this.#logger.info({ event: 'deleted', id }, 'message deleted from the queue');
    this.#pump();
    return true;
  }

  /** The queue as `queue list --json` shows it, oldest first. */
  list(): QueueEntry[] {
    return [...this.#items.values()]
      .filter((t) => !isFinished(t.item))
      .map((t) => toQueueEntry(t.item, (r) => t.trying.has(recipientKey(r))))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Resolves once no attempt or finishing step is under way (for tests and diagnostics). */
  async whenIdle(): Promise<void> {
    while (this.#running.size > 0) await Promise.allSettled([...this.#running]);
  }

  /** Stops the timer, launches nothing more, waits up to `timeoutMs` for attempts in flight. */
  async close(timeoutMs: number): Promise<void> {
    this.#closing = true;
    this.#clearTimer();
    for (const handle of this.#retryTimers) this.#timers.clearTimeout(handle);
    this.#retryTimers.clear();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    await Promise.race([Promise.allSettled([...this.#running]), deadline]);
    clearTimeout(timer);
    this.#stopped = true;
  }

  #scheduleDomain(t: Tracked, domain: string): void {
    // One transfer per item and domain at a time: the attempt in flight reschedules the domain when it ends.
    if (t.inFlight.has(domain)) return;
    const due = domainDueTime(t.item, domain);
    if (due === null) {
      this.#jobs.delete(jobKey(t.item.id, domain));
      return;
    }
    this.#seq += 1;
    this.#jobs.set(jobKey(t.item.id, domain), this.#seq);
    this.#heap.push({ due, id: t.item.id, domain, seq: this.#seq });
    this.#pump();
  }

  /** Launches every due job the limits allow, then sets the timer for the next one. */
  #pump(): void {
    if (!this.#started || this.#closing) return;
    const now = this.#now();
    while (this.#active < this.#config.concurrency) {
      const job = this.#peekValid();
      if (job === null || job.due > now) break;
      this.#heap.pop();
      if ((this.#perDomain.get(job.domain) ?? 0) >= this.#config.concurrencyPerDomain) {
        const waiting = this.#waiting.get(job.domain) ?? [];
        waiting.push(job);
        this.#waiting.set(job.domain, waiting);
        continue;
      }
      this.#launch(job);
    }
    this.#arm();
  }

  #peekValid(): Job | null {
    for (let job = this.#heap.peek(); job !== null; job = this.#heap.peek()) {
      if (this.#jobs.get(jobKey(job.id, job.domain)) === job.seq) return job;
      this.#heap.pop();
    }
    return null;
  }

  /** One timer, for the earliest due job; none while every transfer slot is taken (a finishing transfer pumps). */
  #arm(): void {
    const next = this.#active < this.#config.concurrency ? this.#peekValid() : null;
    const due = next?.due ?? null;
    if (due === this.#timerDue && this.#timer !== null) return;
    this.#clearTimer();
    if (due === null) return;
    const delay = Math.min(Math.max(due - this.#now(), 0), MAX_TIMER);
    this.#timerDue = due;
    this.#timer = this.#timers.setTimeout(() => {
      this.#timer = null;
      this.#timerDue = null;
      this.#pump();
    }, delay);
  }

  #clearTimer(): void {
    if (this.#timer !== null) this.#timers.clearTimeout(this.#timer);
    this.#timer = null;
    this.#timerDue = null;
  }

  #launch(job: Job): void {
    const t = this.#items.get(job.id);
    this.#jobs.delete(jobKey(job.id, job.domain));
    if (t === undefined || t.deleted || t.inFlight.has(job.domain)) return;
    const now = this.#now();
    const due = t.item.recipients.filter((r) => r.domain === job.domain && isActive(r) && dueTime(r) <= now);
    if (due.length === 0) {
      this.#scheduleDomain(t, job.domain);
      return;
    }
    this.#active += 1;
    this.#perDomain.set(job.domain, (this.#perDomain.get(job.domain) ?? 0) + 1);
    t.inFlight.add(job.domain);
    for (const r of due) t.trying.add(recipientKey(r));
    this.#run(this.#attempt(t, job.domain, due));
  }

  /** Releases the transfer slot of (t, domain) and puts back the jobs that were waiting for that domain. */
  #release(t: Tracked, domain: string, tried: readonly QueueRecipient[]): void {
    this.#active -= 1;
    const left = (this.#perDomain.get(domain) ?? 1) - 1;
    if (left > 0) this.#perDomain.set(domain, left);
    else this.#perDomain.delete(domain);
    t.inFlight.delete(domain);
    for (const r of tried) t.trying.delete(recipientKey(r));
    const waiting = this.#waiting.get(domain);
    if (waiting !== undefined) {
      this.#waiting.delete(domain);
      for (const job of waiting) this.#heap.push(job);
    }
  }

  async #attempt(t: Tracked, domain: string, recipients: readonly QueueRecipient[]): Promise<void> {
    const { item } = t;
    const result = await this.#callTransfer({
      id: item.id,
      domain,
      reversePath: item.reversePath,
      recipients: recipients.map((r): Address => ({ local: r.local, domain: r.domain })),
      openBody: () => this.#store.openBody(item.id),
      size: item.size,
      eightBit: item.eightBit,
      smtputf8: item.smtputf8,
    });
    this.#release(t, domain, recipients);
    this.#pump();
    if (t.deleted || this.#stopped) return;

    const now = this.#now();
    const outcomes = new Map(result.outcomes.map((o) => [recipientKey(o.recipient), o]));
    const created = Date.parse(t.item.created);
    const updated = new Map<string, QueueRecipient>();
    // One retry time for the whole attempt: recipients tried together in one transaction are retried together.
    const attempts = Math.max(...recipients.map((r) => r.attempts)) + 1;
    const delay = this.#policy.delay(attempts);
    const policy = { ...this.#policy, delay: () => delay };
    for (const r of recipients) {
      const outcome = outcomes.get(recipientKey(r)) ?? missingOutcome(r);
      updated.set(recipientKey(r), afterOutcome(r, outcome, created, now, policy));
    }
    t.item = { ...t.item, recipients: t.item.recipients.map((r) => updated.get(recipientKey(r)) ?? r) };
    logAttempt(this.#logger, t.item, [...updated.values()], result, now);

    if (isFinished(t.item)) {
      await this.#finish(t);
    } else {
      await this.#bounceEarly(t);
      await t.writes.run(() => this.#store.save(t.item)).catch((err: unknown) => {
        // The state in memory stays right; after a restart the older state on disk means a retry, not a loss.
        this.#logger.error({ event: 'queue-write-failed', id: item.id, err }, 'could not record the attempt on disk');
      });
      if (!t.deleted) this.#scheduleDomain(t, domain);
    }
  }

  async #callTransfer(req: TransferRequest): Promise<TransferResult> {
    try {
      return await this.#courier.deliver(req);
    } catch (err) {
      // A courier never rejects; if it did, that is a bug on our side: retry later rather than lose the message.
      this.#logger.error({ event: 'transfer-bug', id: req.id, err }, 'transfer failed unexpectedly');
      const diagnostic = `local error: ${err instanceof Error ? err.message : String(err)}`;
      return { outcomes: req.recipients.map((recipient) => ({ recipient, status: 'transient', diagnostic, remoteMta: null })), relay: null };
    }
  }

  /** Every recipient is final: one bounce for the failed ones (unless the sender is <>), then the item goes. */
  async #finish(t: Tracked): Promise<void> {
    if (t.finishing || t.deleted) return;
    t.finishing = true;
    const { item } = t;
    const failed = item.recipients.filter((r) => r.status === 'failed' && r.bounced !== true);
    try {
      if (failed.length > 0 && item.reversePath === null) {
        // RFC 5321 §4.5.5 / §6.1: a message from <> (itself a notification) never causes another one.
        this.#logger.info({ event: 'bounce-suppressed', id: item.id, recipients: failed.map((r) => r.address) }, 'no bounce for the null sender');
      } else if (failed.length > 0) {
        await this.#bounce(item, failed);
      }
      if (t.deleted) return;
      await t.writes.run(() => this.#store.remove(item.id));
      this.#items.delete(item.id);
      this.#logger.info({ event: 'finished', id: item.id }, 'message left the queue');
    } catch (err) {
      // Keep the item (and its failed recipients): its bounce is tried again later.
      t.finishing = false;
      this.#logger.error({ event: 'finish-failed', id: item.id, err }, 'could not create the bounce or remove the message; will try again');
      const handle = this.#timers.setTimeout(() => {
        this.#retryTimers.delete(handle);
        if (!this.#closing && this.#items.get(item.id) === t) this.#run(this.#finish(t));
      }, this.#config.retryMin);
      this.#retryTimers.add(handle);
    }
  }

  /**
   * Recipients that failed while others are still deferred are reported now, not when the last one is final
   * (which may be days later), and marked so that the final bounce does not list them again.
   * The mark is saved right after the bounce is queued: a crash in between means a second report, never none.
   */
  async #bounceEarly(t: Tracked): Promise<void> {
    const fresh = t.item.recipients.filter((r) => r.status === 'failed' && r.bounced !== true);
    if (fresh.length === 0 || t.item.reversePath === null) return;
    // Wait until every recipient was tried once, so that the first round's failures go out in one report.
    if (t.item.recipients.some((r) => r.status === 'pending')) return;
    try {
      await this.#bounce(t.item, fresh);
    } catch (err) {
      // Not marked: the final bounce will report them.
      this.#logger.error({ event: 'bounce-failed', id: t.item.id, err }, 'could not queue the bounce; it will be sent with the final one');
      return;
    }
    const done = new Set(fresh.map(recipientKey));
    t.item = { ...t.item, recipients: t.item.recipients.map((r) => (done.has(recipientKey(r)) ? { ...r, bounced: true } : r)) };
  }

  /** Queues the RFC 3464 report from <> to the original sender, durably, through the same store. */
  async #bounce(item: QueueItem, failed: readonly QueueRecipient[]): Promise<void> {
    const bounce = await queueBounce({ store: this.#store, hostname: this.#hostname, logger: this.#logger, now: this.#now() }, item, failed);
    if (bounce !== null) this.add(bounce);
  }

  #run(task: Promise<void>): void {
    const tracked = task.catch((err: unknown) => this.#logger.error({ event: 'scheduler-bug', err }, 'queue step failed'));
    this.#running.add(tracked);
    void tracked.finally(() => this.#running.delete(tracked));
  }
}

const jobKey = (id: string, domain: string): string => `${id} ${domain}`;

function missingOutcome(r: QueueRecipient): RecipientOutcome {
  return { recipient: { local: r.local, domain: r.domain }, status: 'transient', diagnostic: 'local error: no outcome for this recipient', remoteMta: null };
}
