// The outbound queue as the app sees it: store + scheduler + the relay's Delivery + the control socket, opened and closed together.
import type { OutboundConfig } from '../config/config.js';
import type { Delivery } from '../delivery.js';
import type { Logger } from '../observability/logger.js';
import { OutboundDelivery } from './outbound-delivery.js';
import { assertNoOtherServer, ControlServer, controlSocketPath } from './queue-control.js';
import type { QueueEntry } from './queue-item.js';
import { QueueStore } from './queue-store.js';
import type { Courier } from './courier.js';
import { Scheduler } from './scheduler.js';
import type { Timers } from './timers.js';

export type { QueueEntry } from './queue-item.js';

export interface OutboundQueueOptions {
  readonly config: OutboundConfig;
  readonly hostname: string;
  readonly dataDir: string;
  readonly courier: Courier;
  readonly logger: Logger;
  /** Milliseconds since the epoch; Date.now by default. */
  readonly now?: () => number;
  readonly timers?: Timers;
  readonly random?: () => number;
  /** How long close() waits for transfers in flight. */
  readonly closeTimeoutMs?: number;
}

const CLOSE_TIMEOUT_MS = 10_000;

export class OutboundQueue {
  /** The relay server's final step: commit() makes the message a durable queue item. */
  readonly delivery: Delivery;
  readonly #scheduler: Scheduler;
  readonly #logger: Logger;
  readonly #socketPath: string;
  readonly #closeTimeoutMs: number;
  #control: ControlServer | null = null;

  private constructor(scheduler: Scheduler, delivery: Delivery, opts: OutboundQueueOptions) {
    this.#scheduler = scheduler;
    this.delivery = delivery;
    this.#logger = opts.logger.child({ component: 'queue' });
    this.#socketPath = controlSocketPath(opts.dataDir);
    this.#closeTimeoutMs = opts.closeTimeoutMs ?? CLOSE_TIMEOUT_MS;
  }

  /** Loads the queue (removing leftovers of interrupted writes) and schedules every item; nothing is tried before start(). */
  static async open(opts: OutboundQueueOptions): Promise<OutboundQueue> {
    await assertNoOtherServer(controlSocketPath(opts.dataDir));
    const now = opts.now ?? Date.now;
    const logger = opts.logger.child({ component: 'queue' });
    const { store, items } = await QueueStore.open({ dir: opts.config.queueDir, logger, now });
    const scheduler = new Scheduler({
      store,
      courier: opts.courier,
      logger,
      hostname: opts.hostname,
      config: opts.config,
      now,
      ...(opts.timers === undefined ? {} : { timers: opts.timers }),
      ...(opts.random === undefined ? {} : { random: opts.random }),
    });
    for (const item of items) scheduler.add(item);
    if (items.length > 0) logger.info({ event: 'queue-loaded', messages: items.length }, 'queue loaded');
    const delivery = new OutboundDelivery({ store, enqueue: (item) => scheduler.add(item), logger, now });
    return new OutboundQueue(scheduler, delivery, opts);
  }

  /** Opens the control socket (for `facteur queue …`) and starts delivering. */
  async start(): Promise<void> {
    this.#control = await ControlServer.listen(
      this.#socketPath,
      { flush: () => this.flush(), delete: (id) => this.delete(id), list: () => this.list() },
      this.#logger,
    );
    this.#scheduler.start();
  }

  /** Every deferred recipient is tried now. */
  flush(): void {
    this.#scheduler.flush();
  }

  /** Removes a message without a bounce; false if it is not queued. */
  delete(id: string): Promise<boolean> {
    return this.#scheduler.delete(id);
  }

  list(): QueueEntry[] {
    return this.#scheduler.list();
  }

  /** Resolves once no delivery attempt or bounce is under way. */
  whenIdle(): Promise<void> {
    return this.#scheduler.whenIdle();
  }

  /** Stops the timers, waits (bounded) for transfers in flight, closes the control socket. */
  async close(): Promise<void> {
    const control = this.#control;
    this.#control = null;
    await control?.close();
    await this.#scheduler.close(this.#closeTimeoutMs);
  }
}
