// The relay's DKIM signatures are made in a thread of their own (signing-thread.ts) rather than in libuv's pool. The
// pool has 32 threads (for the fsyncs): with 32 sessions, 32 signatures took turns on two cores, each with its own
// wake-up and its own completion on the event loop. One thread that signs what a turn of the event loop gathered,
// and answers once per batch, costs the machine about 0.1 ms less per message and the event loop half as much
// (README, Performance, seventh round); RSA-2048's own arithmetic, about 0.27 ms, is the same either way.
//
// Signing never depends on the thread: a request the thread cannot answer (it died, it is paused after dying young,
// the program is stopping) is signed in the pool instead, so a message is never refused or left unsigned for it.
import { sign as signCallback, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../observability/logger.js';
import { nextRestartPause, THREAD_RESTART_PAUSES } from '../time/restart-pause.js';
import { IdleTimer, THREAD_IDLE_STOP_MS } from '../time/idle-timer.js';
import { systemTimers, type Timers } from '../time/timers.js';
import type { SignAnswer, SignRequest } from './signing-thread.js';

/** Makes one signature: node:crypto's sign(hash, data, key), off the event loop. */
export type SignFunction = (hash: 'sha256' | null, data: Buffer, key: KeyObject) => Promise<Buffer>;

/** In libuv's thread pool: what the signer uses without a thread, and whenever the thread cannot answer. */
export const poolSign: SignFunction = promisify(signCallback) as SignFunction;

const THREAD_SCRIPT = new URL('./signing-thread.js', import.meta.url);

interface Pending {
  readonly request: SignRequest;
  readonly resolve: (signature: Buffer) => void;
  readonly reject: (err: Error) => void;
}

export class ThreadedSigning {
  readonly #logger: Logger | undefined;
  readonly #script: URL;
  readonly #now: () => number;
  /** Armed while the thread runs with nothing to sign: it is stopped after THREAD_IDLE_STOP_MS (about 10 MiB back). */
  readonly #idle: IdleTimer;
  #worker: Worker | null = null;
  #closed = false;
  #nextId = 0;
  /** Sent to the running thread, by id, until answered (its death sends them to the pool). */
  readonly #pending = new Map<number, Pending>();
  /** This turn's requests, for the running thread. */
  #outbox: Pending[] = [];
  /** No thread is started before this time (on #now's clock), and the pause that set it. */
  #retryAt = 0;
  #pauseMs = 0;

  /**
   * `script`: the thread's code (tests give one that fails on purpose); `now`: the clock of the restart pauses;
   * `timers`: those of the idle stop.
   */
  constructor(opts: { logger?: Logger; script?: URL; now?: () => number; timers?: Timers } = {}) {
    this.#logger = opts.logger;
    this.#script = opts.script ?? THREAD_SCRIPT;
    this.#now = opts.now ?? Date.now;
    this.#idle = new IdleTimer(opts.timers ?? systemTimers, THREAD_IDLE_STOP_MS);
  }

  /** Whether a thread is running now (it starts on the first signature, and stops when idle or dead). */
  get running(): boolean {
    return this.#worker !== null;
  }

  /** A SignFunction: in the thread when it runs, else in the pool. */
  readonly sign: SignFunction = (hash, data, key) => {
    this.#idle.disarm();
    if (this.#thread() === null) return poolSign(hash, data, key);
    return new Promise<Buffer>((resolve, reject) => {
      if (this.#outbox.length === 0) setImmediate(() => this.#flush());
      this.#outbox.push({ request: { id: ++this.#nextId, hash, key, data }, resolve, reject });
    });
  };

  /** Stops the thread; what it had not answered is signed in the pool, as is everything asked from now on. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#idle.disarm();
    const worker = this.#worker;
    this.#worker = null;
    this.#toPool();
    await worker?.terminate();
  }

  /** The turn's requests as one message (their KeyObjects cross by reference to the same key, not re-parsed). */
  #flush(): void {
    const batch = this.#outbox;
    this.#outbox = [];
    const worker = this.#worker;
    if (worker === null) {
      for (const p of batch) this.#inPool(p);
      return;
    }
    for (const p of batch) this.#pending.set(p.request.id, p);
    worker.postMessage(batch.map((p) => p.request));
  }

  /** The running thread, started on first use and again after a death; null while closed or paused (see #died). */
  #thread(): Worker | null {
    if (this.#worker !== null || this.#closed) return this.#worker;
    if (this.#now() < this.#retryAt) return null;
    const worker = new Worker(this.#script, { resourceLimits: { maxYoungGenerationSizeMb: 8 } });
    const startedAt = this.#now();
    worker.unref(); // the listeners keep the process alive, not this thread
    worker.on('message', (answers: readonly SignAnswer[]) => {
      for (const a of answers) {
        const p = this.#pending.get(a.id);
        this.#pending.delete(a.id);
        if (p === undefined) continue;
        if ('signature' in a) p.resolve(Buffer.from(a.signature.buffer, a.signature.byteOffset, a.signature.byteLength));
        else p.reject(new Error(a.error));
      }
      if (this.#pending.size === 0 && this.#outbox.length === 0) this.#idle.arm(() => this.#stopIdle(worker));
    });
    const died = (err: Error): void => {
      if (this.#worker !== worker) return;
      this.#worker = null;
      this.#idle.disarm();
      this.#pauseMs = nextRestartPause(this.#pauseMs, this.#now() - startedAt, THREAD_RESTART_PAUSES);
      this.#retryAt = this.#now() + this.#pauseMs;
      this.#logger?.error(
        { event: 'signing-thread-died', err: err.message, ...(this.#pauseMs > 0 ? { restart_in_ms: this.#pauseMs } : {}) },
        'the DKIM signing thread stopped: its signatures are made in the thread pool, and a new thread starts for the next ones',
      );
      this.#toPool();
    };
    worker.on('error', died);
    worker.on('exit', (code) => died(new Error(`exit code ${code}`)));
    this.#worker = worker;
    return worker;
  }

  /** Stops an idle thread; it is no longer ours, so its exit is not a death (see #thread's died). */
  #stopIdle(worker: Worker): void {
    if (this.#worker !== worker || this.#pending.size > 0 || this.#outbox.length > 0) return;
    this.#worker = null;
    void worker.terminate();
  }

  /** Everything sent to a thread that is gone, and this turn's requests, signed in the pool instead. */
  #toPool(): void {
    const waiting = [...this.#pending.values(), ...this.#outbox];
    this.#pending.clear();
    this.#outbox = [];
    for (const p of waiting) this.#inPool(p);
  }

  #inPool(p: Pending): void {
    poolSign(p.request.hash, Buffer.from(p.request.data), p.request.key).then(p.resolve, p.reject);
  }
}
