// A worker's end of the channel to the primary: connections handed over, questions about shared state, and the
// primary's orders (stop, reload, reopen the log, report the metrics).
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { Logger } from '../observability/logger.js';
import type { QueueItem } from '../outbound/queue-item.js';
import type { ConnectionSource } from '../smtp/server/listener.js';
import { isOurs, type FromWorker, type PrimaryCall, type ToWorker } from './messages.js';

/** What the channel needs of the process (the real `process` in a worker; tests may pass their own). */
export interface ParentPort {
  send?(message: unknown): boolean;
  on(event: 'message', listener: (message: unknown, handle?: unknown) => void): unknown;
}

export interface WorkerOrders {
  stop(): void;
  reload(): Promise<void>;
  reopenLog(): void;
  metrics(): Promise<unknown>;
}

/** A question unanswered for this long is given up (the caller then decides as if the limit allowed it). */
const CALL_TIMEOUT_MS = 5_000;

export class WorkerLink {
  readonly #port: ParentPort;
  readonly #logger: Logger;
  readonly #sources = new Map<string, EventEmitter>();
  readonly #calls = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  #nextCall = 0;
  #orders: WorkerOrders | null = null;
  /** A stop that came while the worker was still starting: carried out as soon as it can be. */
  #stopAsked = false;

  constructor(port: ParentPort, logger: Logger) {
    this.#port = port;
    this.#logger = logger;
    port.on('message', (message, handle) => {
      if (isOurs<ToWorker>(message)) this.#receive(message, handle);
    });
  }

  /** From now on, the primary's orders are carried out by these. */
  obey(orders: WorkerOrders): void {
    this.#orders = orders;
    if (this.#stopAsked) orders.stop();
  }

  /** The connections of one listener (SmtpServerOptions.takeOver). */
  readonly takeOver = (key: string): ConnectionSource => {
    const source = new EventEmitter();
    this.#sources.set(key, source);
    return {
      on: (event, listener) => void source.on(event, listener),
      close: () => void this.#sources.delete(key),
    };
  };

  send(message: FromWorker): void {
    // No channel (the primary is gone): node:cluster ends this process on 'disconnect'; nothing to tell anyone.
    try {
      this.#port.send?.(message);
    } catch (err) {
      this.#logger.warn({ event: 'ipc-send-failed', err }, 'could not send to the primary');
    }
  }

  /** The relay's committed message, handed to the primary's queue. */
  readonly enqueue = (item: QueueItem): void => this.send({ t: 'queued', item });

  /** Asks the primary; rejects when it does not answer in time. */
  call(call: PrimaryCall): Promise<unknown> {
    const id = ++this.#nextCall;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#calls.delete(id);
        reject(new Error(`the primary did not answer ${call.method} within ${CALL_TIMEOUT_MS} ms`));
      }, CALL_TIMEOUT_MS);
      this.#calls.set(id, { resolve, reject, timer });
      this.send({ t: 'call', id, call });
    });
  }

  #receive(message: ToWorker, handle: unknown): void {
    switch (message.t) {
      case 'connection':
        return this.#connection(message.key, message.token, handle as Socket | undefined);
      case 'answer': {
        const pending = this.#calls.get(message.id);
        if (pending === undefined) return;
        this.#calls.delete(message.id);
        clearTimeout(pending.timer);
        if (message.error !== undefined) pending.reject(new Error(message.error));
        else pending.resolve(message.value);
        return;
      }
      case 'stop':
        this.#stopAsked = true;
        return this.#orders?.stop();
      case 'reload':
        void this.#orders
          ?.reload()
          .finally(() => this.send({ t: 'reloaded' }));
        return;
      case 'reopen-log':
        return this.#orders?.reopenLog();
      case 'metrics':
        void (this.#orders?.metrics() ?? Promise.resolve([])).then(
          (value) => this.send({ t: 'metrics', id: message.id, value }),
          () => this.send({ t: 'metrics', id: message.id, value: [] }),
        );
        return;
    }
  }

  /** A connection the primary admitted: served by the listener's session code; its end is reported back. */
  #connection(key: string, token: number, socket: Socket | undefined): void {
    if (socket === undefined) {
      this.send({ t: 'closed', token });
      return;
    }
    socket.once('close', () => this.send({ t: 'closed', token }));
    const source = this.#sources.get(key);
    if (source === undefined || source.listenerCount('connection') === 0) {
      // Stopping, or a listener this worker does not have (a config changed on disk since the primary read it).
      this.#logger.warn({ event: 'connection-unserved', listener: key }, 'a connection for a listener this worker does not serve: closed');
      socket.destroy();
      return;
    }
    source.emit('connection', socket);
  }
}
