// The primary's workers: forked with node:cluster, each handed the connections the primary accepts, replaced when
// one dies (with a growing delay when they die young), stopped and reloaded with the primary.
import cluster, { type Worker } from 'node:cluster';
import type { Socket } from 'node:net';
import { formatReply } from '../mail/reply.js';
import type { Logger } from '../observability/logger.js';
import type { QueueItem } from '../outbound/queue-item.js';
import { replies } from '../smtp/replies.js';
import { hangUp } from '../smtp/wire/hang-up.js';
import { isOurs, type FromWorker, type PrimaryCall, type ToWorker } from './messages.js';
import { nextRestartPause, type RestartPauses } from '../time/restart-pause.js';

export interface WorkerPoolOptions {
  readonly count: number;
  readonly hostname: string;
  readonly logger: Logger;
  /** Answers a worker's question about the state kept once per server. */
  readonly answer: (call: PrimaryCall) => unknown;
  /** A message a worker committed to the queue folder. */
  readonly queued: (item: QueueItem) => void;
  /** A worker ended: what it committed but could not announce must be found (the queue's folder is scanned). */
  readonly workerEnded: () => void;
  /** Starts one worker process (cluster.fork by default); `env` is added to the primary's environment. */
  readonly fork?: (env: Record<string, string>) => Worker;
}

/** A worker that lived 10 s is replaced at once; one that died younger waits, 1 s and longer each time, up to a minute. */
const RESTART_PAUSES: RestartPauses = { healthyMs: 10_000, firstMs: 1_000, maxMs: 60_000 };
/** Connections held while no worker is ready (a replacement starting); past that they get 421. */
const MAX_PENDING = 256;
/** How long a reload or a metrics scrape waits for each worker. */
const ANSWER_TIMEOUT_MS = 5_000;

interface Slot {
  readonly index: number;
  worker: Worker | null;
  ready: boolean;
  startedAt: number;
  /** Connections handed to the current worker and not yet reported ended. */
  open: number;
  restartDelay: number;
  restartTimer: NodeJS.Timeout | null;
}

interface Handed {
  readonly slot: Slot;
  readonly release: () => void;
}

export class WorkerPool {
  readonly #opts: WorkerPoolOptions;
  readonly #slots: Slot[];
  readonly #handed = new Map<number, Handed>();
  readonly #pending: { socket: Socket; key: string; release: () => void }[] = [];
  readonly #waiting = new Map<number, (value: unknown) => void>();
  #nextToken = 0;
  #nextRequest = 0;
  #turn = 0;
  #stopping = false;
  #starting: { resolve: () => void; reject: (err: Error) => void } | null = null;
  #reloads: Set<Worker> | null = null;
  #reloaded: (() => void) | null = null;

  constructor(opts: WorkerPoolOptions) {
    this.#opts = opts;
    this.#slots = Array.from({ length: opts.count }, (_, index) => ({ index, worker: null, ready: false, startedAt: 0, open: 0, restartDelay: 0, restartTimer: null }));
  }

  /** Forks every worker; resolves once each says it is ready, rejects if one ends before. */
  start(): Promise<void> {
    const all = new Promise<void>((resolve, reject) => (this.#starting = { resolve, reject }));
    for (const slot of this.#slots) this.#fork(slot);
    return all;
  }

  /** True once stop() was called (or start failed). */
  get stopping(): boolean {
    return this.#stopping;
  }

  /** The pids of the workers running now (for the log and the tests). */
  pids(): number[] {
    return this.#slots.flatMap((s) => (s.worker?.process.pid === undefined ? [] : [s.worker.process.pid]));
  }

  /** SmtpServerOptions.handOff: gives an admitted connection to the ready worker serving the fewest. */
  readonly handOff = (socket: Socket, key: string, release: () => void): void => {
    const slot = this.#pick();
    if (slot === null) {
      if (this.#stopping || this.#pending.length >= MAX_PENDING) return this.#refuse(socket, key, release);
      this.#pending.push({ socket, key, release });
      return;
    }
    this.#give(slot, socket, key, release);
  };

  /** Passes the stop on (the workers give their sessions the grace period) and resolves once every worker ended. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#starting?.resolve(); // a stop while starting: start() returns, and `stopping` says why
    this.#starting = null;
    for (const p of this.#pending.splice(0)) this.#refuse(p.socket, p.key, p.release);
    const ended: Promise<void>[] = [];
    for (const slot of this.#slots) {
      if (slot.restartTimer !== null) clearTimeout(slot.restartTimer);
      slot.restartTimer = null;
      const worker = slot.worker;
      if (worker === null) continue;
      ended.push(new Promise((resolve) => worker.once('exit', () => resolve())));
      // One still starting may not listen to its channel yet: it is told when it says it is ready.
      if (slot.ready) this.#send(worker, { t: 'stop' });
    }
    await Promise.all(ended);
  }

  /** Ends every worker at once (a second signal, or a stop past its limit). */
  kill(): void {
    for (const slot of this.#slots) slot.worker?.process.kill('SIGKILL');
  }

  /** Passes SIGHUP on; resolves when every worker has reloaded, ended, or let the time limit pass. */
  async reload(): Promise<void> {
    const live = this.#slots.flatMap((s) => (s.worker !== null && s.ready ? [s.worker] : []));
    if (live.length === 0) return;
    this.#reloads = new Set(live);
    const done = new Promise<void>((resolve) => (this.#reloaded = resolve));
    for (const worker of live) this.#send(worker, { t: 'reload' });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([done, new Promise<void>((resolve) => (timer = setTimeout(resolve, ANSWER_TIMEOUT_MS)))]);
    clearTimeout(timer);
    this.#reloads = null;
    this.#reloaded = null;
  }

  /** Passes SIGUSR1 (and a SIGHUP's reopening) on: each worker reopens its descriptor of the one log file. */
  reopenLog(): void {
    for (const slot of this.#slots) if (slot.worker !== null) this.#send(slot.worker, { t: 'reopen-log' });
  }

  /** Each ready worker's metrics (prom-client getMetricsAsJSON), for one aggregated /metrics. */
  async metrics(): Promise<unknown[]> {
    const asks = this.#slots.flatMap((slot) => {
      const worker = slot.worker;
      if (worker === null || !slot.ready) return [];
      const id = ++this.#nextRequest;
      return [
        new Promise<unknown>((resolve) => {
          const timer = setTimeout(() => {
            this.#waiting.delete(id);
            resolve(null);
          }, ANSWER_TIMEOUT_MS);
          this.#waiting.set(id, (value) => {
            clearTimeout(timer);
            resolve(value);
          });
          this.#send(worker, { t: 'metrics', id });
        }),
      ];
    });
    return (await Promise.all(asks)).filter((v) => v !== null);
  }

  #fork(slot: Slot): void {
    slot.restartTimer = null;
    const fork = this.#opts.fork ?? ((env) => cluster.fork(env));
    // NOTIFY_SOCKET emptied: only the primary speaks to systemd. FACTEUR_WORKER names the worker in its log lines.
    const worker = fork({ FACTEUR_WORKER: String(slot.index), NOTIFY_SOCKET: '' });
    slot.worker = worker;
    slot.ready = false;
    slot.open = 0;
    slot.startedAt = Date.now();
    worker.on('message', (message: unknown) => {
      if (isOurs<FromWorker>(message)) this.#receive(slot, worker, message);
    });
    // An IPC error (the worker gone mid-send) is not the primary's end: the 'exit' that follows handles it.
    worker.on('error', (err) => this.#opts.logger.warn({ event: 'worker-ipc-error', worker: slot.index, err }, 'worker channel error'));
    worker.once('exit', (code, signal) => this.#ended(slot, worker, code, signal));
  }

  #receive(slot: Slot, worker: Worker, message: FromWorker): void {
    switch (message.t) {
      case 'ready':
        slot.ready = true;
        if (this.#stopping) return this.#send(worker, { t: 'stop' });
        this.#opts.logger.info({ event: 'worker-ready', worker: slot.index, worker_pid: worker.process.pid }, 'worker ready');
        if (this.#starting !== null && this.#slots.every((s) => s.ready)) {
          this.#starting.resolve();
          this.#starting = null;
        }
        this.#drainPending();
        return;
      case 'closed': {
        const handed = this.#handed.get(message.token);
        if (handed === undefined) return;
        this.#handed.delete(message.token);
        handed.slot.open -= 1;
        handed.release();
        return;
      }
      case 'queued':
        this.#opts.queued(message.item);
        return;
      case 'reloaded':
        this.#reloads?.delete(worker);
        if (this.#reloads?.size === 0) this.#reloaded?.();
        return;
      case 'call':
        void Promise.resolve()
          .then(() => this.#opts.answer(message.call))
          .then(
            (value) => this.#send(worker, { t: 'answer', id: message.id, value: value ?? null }),
            (err: unknown) => this.#send(worker, { t: 'answer', id: message.id, value: null, error: String(err) }),
          );
        return;
      case 'metrics':
        this.#waiting.get(message.id)?.(message.value);
        this.#waiting.delete(message.id);
        return;
    }
  }

  #ended(slot: Slot, worker: Worker, code: number | null, signal: string | null): void {
    if (slot.worker !== worker) return;
    slot.worker = null;
    slot.ready = false;
    // Its connections died with it: their places count no more.
    for (const [token, handed] of this.#handed) {
      if (handed.slot !== slot) continue;
      this.#handed.delete(token);
      handed.release();
    }
    slot.open = 0;
    this.#reloads?.delete(worker);
    if (this.#reloads?.size === 0) this.#reloaded?.();
    this.#opts.workerEnded();
    if (this.#stopping) {
      this.#opts.logger.info({ event: 'worker-stopped', worker: slot.index, worker_pid: worker.process.pid, code, signal }, 'worker stopped');
      return;
    }
    if (this.#starting !== null) {
      this.#starting.reject(new Error(`worker ${slot.index} (pid ${worker.process.pid}) ended while starting (${signal ?? `exit code ${code}`}); its log lines say why`));
      this.#starting = null;
      this.#stopping = true;
      this.kill();
      return;
    }
    const uptime = Date.now() - slot.startedAt;
    slot.restartDelay = nextRestartPause(slot.restartDelay, uptime, RESTART_PAUSES);
    this.#opts.logger.error(
      { event: 'worker-died', worker: slot.index, worker_pid: worker.process.pid, code, signal, uptime_ms: uptime, restart_in_ms: slot.restartDelay },
      `worker ${slot.index} ended unexpectedly (${signal ?? `exit code ${code}`}); a new one starts in ${slot.restartDelay} ms`,
    );
    slot.restartTimer = setTimeout(() => this.#fork(slot), slot.restartDelay);
  }

  /** The ready worker with the fewest connections, taking turns among equals. */
  #pick(): Slot | null {
    let best: Slot | null = null;
    const n = this.#slots.length;
    for (let i = 0; i < n; i++) {
      const slot = this.#slots[(this.#turn + i) % n]!;
      if (slot.worker === null || !slot.ready) continue;
      if (best === null || slot.open < best.open) best = slot;
    }
    this.#turn = (this.#turn + 1) % n;
    return best;
  }

  #give(slot: Slot, socket: Socket, key: string, release: () => void): void {
    const worker = slot.worker!;
    const token = ++this.#nextToken;
    this.#handed.set(token, { slot, release });
    slot.open += 1;
    const message: ToWorker = { t: 'connection', key, token };
    // Not delivered (the worker just died): the place is given back; the client sees the connection close.
    const failed = (err: unknown): void => {
      this.#opts.logger.warn({ event: 'handoff-failed', worker: slot.index, err }, 'could not hand a connection to a worker');
      socket.destroy();
      if (!this.#handed.delete(token)) return;
      slot.open -= 1;
      release();
    };
    try {
      worker.send(message, socket, (err: Error | null) => {
        if (err !== null) failed(err);
      });
    } catch (err) {
      failed(err);
    }
  }

  #drainPending(): void {
    while (this.#pending.length > 0) {
      const slot = this.#pick();
      if (slot === null) return;
      const p = this.#pending.shift()!;
      if (p.socket.destroyed) p.release();
      else this.#give(slot, p.socket, p.key, p.release);
    }
  }

  #refuse(socket: Socket, key: string, release: () => void): void {
    release();
    const reply = this.#stopping ? replies.shuttingDown(this.#opts.hostname) : replies.noWorker(this.#opts.hostname);
    // On a TLS port the client expects a handshake, so a plain 421 would be noise: just close (as listener.ts does).
    if (key.split(' ')[1] === 'tls') return void socket.destroy();
    socket.resume();
    hangUp(socket, socket, { last: formatReply(reply) });
  }

  #send(worker: Worker, message: ToWorker): void {
    try {
      worker.send(message);
    } catch (err) {
      this.#opts.logger.warn({ event: 'worker-send-failed', err }, 'could not send to a worker');
    }
  }
}
