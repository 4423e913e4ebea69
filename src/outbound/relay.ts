// The relay's parts, opened and closed together: the queue folder (store), the queue, the relay server's Delivery
// (a message is queued at the end of DATA), and the control socket through which `facteur queue …` reaches them.
import type { GroupFsync } from '../fs/group-fsync.js';
import type { OutboundConfig } from '../config/config.js';
import type { Delivery } from '../delivery.js';
import type { Logger } from '../observability/logger.js';
import type { Courier } from './courier.js';
import { OutboundDelivery } from './outbound-delivery.js';
import { Queue } from './queue.js';
import { assertNoOtherServer, ControlServer, controlSocketPath } from './queue-control.js';
import { QueueStore } from './queue-store.js';
import type { Timers } from '../time/timers.js';
import type { DkimSigner } from '../mailauth/dkim-signer.js';
import type { QueueItem } from './queue-item.js';

export interface RelayOptions {
  readonly config: OutboundConfig;
  readonly hostname: string;
  readonly dataDir: string;
  readonly courier: Courier;
  readonly logger: Logger;
  /** Milliseconds since the epoch; Date.now by default. */
  readonly now?: () => number;
  readonly timers?: Timers;
  readonly random?: () => number;
  /** How long close() waits for attempts in flight (default 10 s). */
  readonly closeTimeoutMs?: number;
  /** DKIM signing of relayed mail and of our bounces (null: none). */
  readonly signer?: DkimSigner | null;
  /** Counts each delivery attempt's outcome (the metrics). */
  readonly countAttempt?: (outcome: 'sent' | 'deferred' | 'bounced') => void;
  /** The queue folder's fsyncs, grouped (app.ts passes one that times them for the metrics). */
  readonly groupFsync?: GroupFsync;
}

const CLOSE_TIMEOUT_MS = 10_000;

export class Relay {
  readonly queue: Queue;
  /** The relay server's final step: commit() makes the message a durable queue item. */
  readonly delivery: Delivery;
  readonly #logger: Logger;
  readonly #socketPath: string;
  readonly #closeTimeoutMs: number;
  readonly #store: QueueStore;
  #control: ControlServer | null = null;

  private constructor(queue: Queue, delivery: Delivery, store: QueueStore, logger: Logger, opts: RelayOptions) {
    this.queue = queue;
    this.#store = store;
    this.delivery = delivery;
    this.#logger = logger;
    this.#socketPath = controlSocketPath(opts.dataDir);
    this.#closeTimeoutMs = opts.closeTimeoutMs ?? CLOSE_TIMEOUT_MS;
  }

  /** Loads the queue (clearing what interrupted writes left) and schedules every item; nothing is tried before start(). */
  static async open(opts: RelayOptions): Promise<Relay> {
    // Before the queue is even read: a second server would take the first one's files in flight for leftovers.
    await assertNoOtherServer(controlSocketPath(opts.dataDir));
    const now = opts.now ?? Date.now;
    const logger = opts.logger.child({ component: 'queue' });
    const { store, items } = await QueueStore.open({ dir: opts.config.queueDir, logger, now, ...(opts.groupFsync === undefined ? {} : { groupFsync: opts.groupFsync }) });
    const queue = new Queue({
      store,
      courier: opts.courier,
      logger,
      hostname: opts.hostname,
      config: opts.config,
      now,
      signer: opts.signer ?? null,
      ...(opts.countAttempt === undefined ? {} : { countAttempt: opts.countAttempt }),
      ...(opts.timers === undefined ? {} : { timers: opts.timers }),
      ...(opts.random === undefined ? {} : { random: opts.random }),
    });
    for (const item of items) queue.add(item);
    if (items.length > 0) logger.info({ event: 'queue-loaded', messages: items.length }, 'queue loaded');
    const delivery = new OutboundDelivery({ store, enqueue: (item) => queue.add(item), logger, now, signer: opts.signer ?? null });
    return new Relay(queue, delivery, store, logger, opts);
  }

  /** A message a worker process committed (src/workers): queued once, however many times it is announced. */
  take(item: QueueItem): void {
    if (!this.queue.has(item.id)) this.queue.add(item);
  }

  /** Takes the committed messages nobody announced (a worker ended between its commit and its message); how many. */
  takeStrays(): number {
    const found = this.#store.strays((id) => this.queue.has(id));
    for (const item of found) this.queue.add(item);
    if (found.length > 0) this.#logger.warn({ event: 'queue-strays', ids: found.map((i) => i.id) }, 'queued messages of an ended worker taken into the queue');
    return found.length;
  }

  /** Opens the control socket (for `facteur queue …`) and starts delivering. */
  async start(): Promise<void> {
    this.#control = await ControlServer.listen(this.#socketPath, this.queue, this.#logger);
    this.queue.start();
  }

  /** Closes the control socket, then stops the queue (waiting, bounded, for attempts in flight). */
  async close(): Promise<void> {
    const control = this.#control;
    this.#control = null;
    await control?.close();
    await this.queue.close(this.#closeTimeoutMs);
  }
}
