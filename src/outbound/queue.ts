// The queue: each message's life from its arrival to its last recipient, read top to bottom (an attempt per domain
// through the courier, the outcomes recorded, retries with backoff, bounces, removal), over the store (the disk) and
// the dispatcher (when, and how many at once). The items in memory are the truth while the server runs.
import type { OutboundConfig } from '../config/config.js';
import { Serial } from '../fs/serial.js';
import { errorText } from '../observability/error-text.js';
import type { Logger } from '../observability/logger.js';
import type { Address } from '../mail/address.js';
import { logAttempt } from './attempt-log.js';
import { retryDelay } from './backoff.js';
import { queueBounce } from './bounce.js';
import type { DkimSigner } from '../mailauth/dkim-signer.js';
import type { Courier, RecipientOutcome, TransferResult } from './courier.js';
import { Dispatcher, type Job } from './dispatcher.js';
import {
  afterOutcome,
  byId,
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
import { delay, systemTimers, type Timers } from '../time/timers.js';

export interface QueueOptions {
  readonly store: QueueStore;
  /** Takes each attempt (routing-courier.ts in the server); tests pass a fake. */
  readonly courier: Courier;
  readonly logger: Logger;
  /** Our host name, for bounces. */
  readonly hostname: string;
  readonly config: Pick<OutboundConfig, 'retryMin' | 'retryMax' | 'queueLifetime' | 'concurrency' | 'concurrencyPerDomain'>;
  /** Milliseconds since the epoch. */
  readonly now: () => number;
  readonly timers?: Timers;
  readonly random?: () => number;
  /** Signs our bounces for the host name's domain or a listed parent (null: none). */
  readonly signer?: DkimSigner | null;
  /** Counts each attempt's outcome (the metrics), once per outcome and recipient domain. */
  readonly countAttempt?: (outcome: 'sent' | 'deferred' | 'bounced') => void;
}

/** An item and what is happening to it right now. */
interface Tracked {
  item: QueueItem;
  /** Domains with an attempt in flight: one attempt per item and domain at a time. */
  readonly inFlight: Set<string>;
  /** recipientKey of recipients being tried (shown as "pending" by `queue list`). */
  readonly trying: Set<string>;
  /** Removed by `queue delete`: results still in flight are dropped. */
  deleted: boolean;
  finishing: boolean;
  /** Writes of this item's files, one after the other, so that an older state never lands after a newer one. */
  readonly writes: Serial;
}

export class Queue {
  readonly #store: QueueStore;
  readonly #courier: Courier;
  readonly #logger: Logger;
  readonly #hostname: string;
  readonly #signer: DkimSigner | null;
  readonly #countAttempt: ((outcome: 'sent' | 'deferred' | 'bounced') => void) | undefined;
  readonly #now: () => number;
  readonly #timers: Timers;
  readonly #retryMin: number;
  readonly #policy: RetryPolicy;
  readonly #dispatcher: Dispatcher;
  readonly #items = new Map<string, Tracked>();
  /** Items deleted by `queue delete` whose files are being removed. */
  readonly #deleting = new Set<string>();
  /** Every attempt's ending and finishing step under way, for whenIdle() and close(). */
  readonly #running = new Set<Promise<void>>();
  /** Timers that retry a failed finishing step (bounce or removal). */
  readonly #retryTimers = new Set<unknown>();
  #started = false;
  #closing = false;
  /** After close(): results arriving later are dropped (the item is retried after the restart). */
  #stopped = false;

  constructor(opts: QueueOptions) {
    this.#store = opts.store;
    this.#courier = opts.courier;
    this.#logger = opts.logger;
    this.#hostname = opts.hostname;
    this.#signer = opts.signer ?? null;
    this.#countAttempt = opts.countAttempt;
    this.#now = opts.now;
    this.#timers = opts.timers ?? systemTimers;
    this.#retryMin = opts.config.retryMin;
    const random = opts.random ?? Math.random;
    this.#policy = {
      queueLifetime: opts.config.queueLifetime,
      delay: (attempts) => retryDelay(attempts, { min: opts.config.retryMin, max: opts.config.retryMax, random }),
    };
    this.#dispatcher = new Dispatcher({ ...opts.config, now: opts.now, timers: this.#timers, launch: (job) => this.#launch(job) });
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
    for (const domain of domainsOf(item)) this.#schedule(tracked, domain);
  }

  /** Whether the item is in the queue (a worker's announcement and a scan of the folder may both bring it). */
  has(id: string): boolean {
    return this.#items.has(id) || this.#deleting.has(id);
  }

  /** Starts attempting: items due now are launched at once. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    for (const t of this.#items.values()) if (isFinished(t.item)) this.#run(this.#finish(t));
    this.#dispatcher.start();
  }

  /** `queue flush`: every deferred recipient is due now. */
  flush(): void {
    const now = new Date(this.#now()).toISOString();
    for (const t of this.#items.values()) {
      const recipients = t.item.recipients.map((r) => (r.status === 'deferred' && !t.trying.has(recipientKey(r)) ? { ...r, nextAttempt: now } : r));
      t.item = { ...t.item, recipients };
      for (const domain of domainsOf(t.item)) this.#schedule(t, domain);
    }
  }

  /**
   * `queue delete`: forgets the item and removes its files, without a bounce. An attempt in flight for it runs to
   * its end, but its result is dropped. Resolves false if the id is not queued.
   */
  async delete(id: string): Promise<boolean> {
    const t = this.#items.get(id);
    if (t === undefined) return false;
    t.deleted = true;
    this.#items.delete(id);
    this.#deleting.add(id); // still "in the queue" for has() until its .msg is gone: a folder scan must not bring it back
    for (const domain of domainsOf(t.item)) this.#dispatcher.cancel({ id, domain });
    // After the writes already started, so that none of them brings the .json back. The message may still be
    // read by an attempt in flight: on POSIX an open file outlives its unlinking.
    await t.writes.run(() => this.#store.remove(id)).finally(() => this.#deleting.delete(id));
    this.#logger.info({ event: 'deleted', id }, 'message deleted from the queue');
    return true;
  }

  /** The queue as `queue list --json` shows it, oldest first. */
  list(): QueueEntry[] {
    return [...this.#items.values()]
      .filter((t) => !isFinished(t.item))
      .map((t) => toQueueEntry(t.item, (r) => t.trying.has(recipientKey(r))))
      .sort(byId);
  }

  /** Resolves once no attempt or finishing step is under way (for tests and diagnostics). */
  async whenIdle(): Promise<void> {
    while (this.#running.size > 0) await Promise.allSettled([...this.#running]);
  }

  /** Launches nothing more, waits up to `timeoutMs` for attempts in flight; later results are dropped. */
  async close(timeoutMs: number): Promise<void> {
    this.#closing = true;
    this.#dispatcher.stop();
    for (const handle of this.#retryTimers) this.#timers.clearTimeout(handle);
    this.#retryTimers.clear();
    const deadline = delay(this.#timers, timeoutMs);
    await Promise.race([Promise.allSettled([...this.#running]), deadline.promise]);
    deadline.cancel();
    this.#stopped = true;
  }

  /** Puts (item, domain) in the dispatcher at its earliest due time; an attempt in flight reschedules when it ends. */
  #schedule(t: Tracked, domain: string): void {
    if (t.inFlight.has(domain)) return;
    const due = domainDueTime(t.item, domain);
    if (due === null) this.#dispatcher.cancel({ id: t.item.id, domain });
    else this.#dispatcher.schedule({ id: t.item.id, domain }, due);
  }

  /**
   * A due job: the recipients of the domain whose time has come, tried together. Returns the courier's work (the
   * dispatcher's slot lasts that long), or null when there is nothing to try.
   */
  #launch({ id, domain }: Job): Promise<void> | null {
    const t = this.#items.get(id);
    if (t === undefined || t.deleted || t.inFlight.has(domain)) return null;
    const now = this.#now();
    const due = t.item.recipients.filter((r) => r.domain === domain && isActive(r) && dueTime(r) <= now);
    if (due.length === 0) {
      this.#schedule(t, domain);
      return null;
    }
    t.inFlight.add(domain);
    for (const r of due) t.trying.add(recipientKey(r));
    const attempt = this.#deliver(t.item, domain, due);
    this.#run(this.#afterAttempt(t, domain, due, attempt));
    return attempt.then(() => undefined);
  }

  /** The courier's attempt; one that rejects (a bug: couriers never do) defers instead of losing the message. */
  async #deliver(item: QueueItem, domain: string, recipients: readonly QueueRecipient[]): Promise<TransferResult> {
    const addresses = recipients.map((r): Address => ({ local: r.local, domain: r.domain }));
    try {
      return await this.#courier.deliver({
        id: item.id,
        domain,
        reversePath: item.reversePath,
        recipients: addresses,
        openBody: () => this.#store.openBody(item.id),
        size: item.size,
        eightBit: item.eightBit,
        smtputf8: item.smtputf8,
      });
    } catch (err) {
      this.#logger.error({ event: 'courier-bug', id: item.id, err }, 'delivery attempt failed unexpectedly');
      const diagnostic = `local error: ${errorText(err)}`;
      return { outcomes: addresses.map((recipient) => ({ recipient, status: 'transient', diagnostic, remoteMta: null })), relay: null };
    }
  }

  /** The outcomes recorded; then the item leaves (finished), or waits for its next try with its state saved. */
  async #afterAttempt(t: Tracked, domain: string, tried: readonly QueueRecipient[], attempt: Promise<TransferResult>): Promise<void> {
    const result = await attempt;
    t.inFlight.delete(domain);
    for (const r of tried) t.trying.delete(recipientKey(r));
    if (t.deleted || this.#stopped) return;

    const now = this.#now();
    const outcomes = new Map(result.outcomes.map((o) => [recipientKey(o.recipient), o]));
    const created = Date.parse(t.item.created);
    // One retry time for the whole attempt: recipients tried together in one transaction are retried together.
    const attempts = Math.max(...tried.map((r) => r.attempts)) + 1;
    const wait = this.#policy.delay(attempts);
    const policy = { ...this.#policy, delay: () => wait };
    const updated = new Map<string, QueueRecipient>();
    for (const r of tried) updated.set(recipientKey(r), afterOutcome(r, outcomes.get(recipientKey(r)) ?? missingOutcome(r), created, now, policy));
    t.item = { ...t.item, recipients: t.item.recipients.map((r) => updated.get(recipientKey(r)) ?? r) };
    logAttempt(this.#logger, t.item, [...updated.values()], result, now, this.#countAttempt);

    if (isFinished(t.item)) {
      await this.#finish(t);
      return;
    }
    await this.#bounceEarly(t);
    await t.writes.run(() => this.#store.save(t.item)).catch((err: unknown) => {
      // The state in memory stays right; after a restart the older state on disk means a retry, not a loss.
      this.#logger.error({ event: 'queue-write-failed', id: t.item.id, err }, 'could not record the attempt on disk');
    });
    if (!t.deleted) this.#schedule(t, domain);
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
      // Not flushed: a crash right after may send it once more (queue-store.ts, remove), never lose it.
      await t.writes.run(() => this.#store.remove(item.id, { durable: false }));
      this.#items.delete(item.id);
      this.#logger.info({ event: 'finished', id: item.id }, 'message left the queue');
    } catch (err) {
      // Keep the item (and its failed recipients): its bounce is tried again later.
      t.finishing = false;
      this.#logger.error({ event: 'finish-failed', id: item.id, err }, 'could not create the bounce or remove the message; will try again');
      const handle = this.#timers.setTimeout(() => {
        this.#retryTimers.delete(handle);
        if (!this.#closing && this.#items.get(item.id) === t) this.#run(this.#finish(t));
      }, this.#retryMin);
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
    const bounce = await queueBounce({ store: this.#store, hostname: this.#hostname, logger: this.#logger, now: this.#now(), signer: this.#signer }, item, failed);
    if (bounce !== null) this.add(bounce);
  }

  #run(task: Promise<void>): void {
    const tracked = task.catch((err: unknown) => this.#logger.error({ event: 'queue-bug', err }, 'queue step failed'));
    this.#running.add(tracked);
    void tracked.finally(() => this.#running.delete(tracked));
  }
}

function missingOutcome(r: QueueRecipient): RecipientOutcome {
  return { recipient: { local: r.local, domain: r.domain }, status: 'transient', diagnostic: 'local error: no outcome for this recipient', remoteMta: null };
}
