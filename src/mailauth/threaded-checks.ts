// The inbound checks run in a thread of their own (checks-thread.ts), not on the event loop that every session
// shares. Measured (README, Performance, "Mail authentication"): on a loaded server the checks took 0.3-0.4 ms of
// the event loop per message, two to three times their cost alone (the server's work between two messages leaves
// their code and data out of the caches), and the event loop is what limits a busy server first. Here the event
// loop spends 0.01-0.15 ms per message on them (a copy of the text, and its share of one message each way per
// turn of the loop); the checks themselves cost about as much CPU as before, on the other cores.
//
// What a message between the two threads costs is mostly waking the other one up, when it sleeps: 15-20 µs of the
// sender's time on an idle machine, and up to 90 µs on a loaded one (profiled in the bench's long-connection cells,
// where the woken thread preempts its waker). So each side sends what one turn of its loop gathered as one message.
import { Worker } from 'node:worker_threads';
import type { Logger } from '../observability/logger.js';
import { IdleTimer, THREAD_IDLE_STOP_MS } from '../time/idle-timer.js';
import { nextRestartPause, THREAD_RESTART_PAUSES } from '../time/restart-pause.js';
import { systemTimers, type Timers } from '../time/timers.js';
import type { CheckStep, ChecksThreadData, FromChecksThread, ThreadOutcome } from './checks-thread-messages.js';
import type { ChecksRun, ChecksStarter } from './mailauth-check.js';
import { failedChecks, type CheckResult, type SessionFacts } from './message-checks.js';

const THREAD_SCRIPT = new URL('./checks-thread.js', import.meta.url);
/** Octets of a message held before they go to the thread (the rest of a message's text is never held). */
const BATCH = 64 * 1024;
/**
 * Octets sent to the thread and not yet read by it, across all messages, above which writers wait: a thread far
 * behind (a starved core) must not make the event loop queue a large message's whole text for it.
 */
const MAX_IN_FLIGHT = 4 * 1024 * 1024;

export class ThreadedChecks implements ChecksStarter {
  readonly #data: ChecksThreadData;
  readonly #onLookup: ((type: string, result: string) => void) | undefined;
  readonly #logger: Logger | undefined;
  #worker: Worker | null = null;
  /** Bumped when a thread dies: a message started on an earlier one cannot be finished. */
  #generation = 0;
  /** The messages waiting for their verdict, by id: all on the running thread (a thread's death fails them). */
  readonly #pending = new Map<number, (r: CheckResult) => void>();
  #nextId = 0;
  #closed = false;
  /** No thread is started before this time (on #now's clock), and the pause that set it (see #thread). */
  #retryAt = 0;
  #pauseMs = 0;
  /** Octets the thread has not read yet, and the writers waiting for it to read some (see MAX_IN_FLIGHT). */
  #inFlight = 0;
  /** Messages with steps on the running thread and no end or abort sent yet: while any, the thread is not idle. */
  #open = 0;
  /**
   * Armed while the running thread has nothing to do: it is then stopped after THREAD_IDLE_STOP_MS, giving back
   * about 30 MiB (its heap, mailauth, its caches: the next message after a quiet spell does its DNS lookups again).
   */
  readonly #idle: IdleTimer;
  #waiting: (() => void)[] = [];
  /** The steps of this turn of the event loop, for the running thread. */
  #outbox: CheckStep[] = [];
  readonly #maxInFlight: number;
  readonly #script: URL;
  readonly #now: () => number;

  /**
   * `script`: the thread's code (tests give one that fails on purpose); `now`: the clock of the restart pauses;
   * `maxInFlight`: MAX_IN_FLIGHT, for tests; `timers`: those of the idle stop.
   */
  constructor(
    data: ChecksThreadData,
    opts: { onLookup?: (type: string, result: string) => void; logger?: Logger; script?: URL; now?: () => number; maxInFlight?: number; timers?: Timers } = {},
  ) {
    this.#data = data;
    this.#maxInFlight = opts.maxInFlight ?? MAX_IN_FLIGHT;
    this.#now = opts.now ?? Date.now;
    this.#idle = new IdleTimer(opts.timers ?? systemTimers, THREAD_IDLE_STOP_MS);
    this.#script = opts.script ?? THREAD_SCRIPT;
    this.#onLookup = opts.onLookup;
    this.#logger = opts.logger;
  }

  start(facts: SessionFacts): ChecksRun {
    const id = ++this.#nextId;
    let generation: number | null = null; // the thread's, once the first step went to it
    // Once a step could not go (no thread, or its thread died with what it had read), the rest of the message must
    // not go either: checked without its start, a message could fail DKIM and be refused for our fault.
    let broken: Error | null = null;
    // Chunks wait here until BATCH octets or the end: a small message crosses over in one step, with its verdict's
    // request; a large one in steps of BATCH, so that no more than that is held.
    let held: Uint8Array[] = [];
    let heldSize = 0;
    // Counted in #open from its first step on the thread to its end or abort (once, and only on that thread).
    let open = false;
    const closeOpen = (): void => {
      if (open && generation === this.#generation) this.#open--;
      open = false;
    };
    const send = (end: boolean): void => {
      const chunks = held;
      held = [];
      heldSize = 0;
      if (broken !== null) return;
      if (generation !== null && generation !== this.#generation) broken = new Error('the checks thread stopped during the message');
      const worker = broken === null ? this.#thread() : null;
      if (worker === null) {
        broken ??= new Error(this.#closed ? 'the server is stopping' : 'the checks thread is not running (restarting after a failure)');
        return;
      }
      const step: CheckStep = { id, ...(generation === null ? { facts } : {}), chunks, ...(end ? { end: true } : {}) };
      if (generation === null) {
        open = true;
        this.#open++;
      }
      generation = this.#generation;
      if (end) closeOpen();
      for (const c of chunks) this.#inFlight += c.byteLength;
      this.#post(step);
    };
    return {
      write: (chunk) => {
        // A copy with memory of its own, handed over without another (Buffer.from could share Node's pool).
        held.push(new Uint8Array(chunk));
        heldSize += chunk.length;
        if (heldSize < BATCH) return undefined;
        send(false);
        return this.#inFlight > this.#maxInFlight ? new Promise<void>((resolve) => this.#waiting.push(resolve)) : undefined;
      },
      finish: () =>
        new Promise<CheckResult>((resolve) => {
          send(true);
          if (broken !== null) resolve(this.#failed(broken));
          else this.#pending.set(id, resolve);
        }),
      abort: () => {
        held = [];
        if (broken === null && generation !== null && generation === this.#generation && !this.#closed) this.#post({ id, chunks: [], abort: true });
        closeOpen();
      },
    };
  }

  /** Stops the thread; messages still waiting get the temperror verdict. */
  /** Whether a thread is running now (it starts with the first message, and stops when idle or dead). */
  get running(): boolean {
    return this.#worker !== null;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#idle.disarm();
    const worker = this.#worker;
    this.#worker = null;
    this.#outbox = [];
    this.#read(Number.POSITIVE_INFINITY);
    this.#failPending(new Error('the server is stopping'));
    await worker?.terminate();
  }

  /**
   * The running thread, started on first use and again after a crash; null while closed, or while a thread that
   * died young is not started again (a broken install would otherwise start one per message, 30 ms of CPU each):
   * then the messages get temperror at once, and the pause doubles from 1 s to a minute while the deaths go on.
   */
  #thread(): Worker | null {
    if (this.#worker !== null || this.#closed) return this.#worker;
    if (this.#now() < this.#retryAt) return null;
    // A young generation of 8 MB instead of V8's default: 10-15 MB less resident memory under load, the same CPU
    // (2026-12-03, two pairs of the bench's mailauth-inbound cells, 5,000 messages each).
    const worker = new Worker(this.#script, { workerData: this.#data, resourceLimits: { maxYoungGenerationSizeMb: 8 } });
    const startedAt = this.#now();
    worker.unref(); // the listeners keep the process alive, not this thread
    worker.on('message', (m: FromChecksThread) => {
      this.#read(m.read);
      for (const [type, result] of m.lookups) this.#onLookup?.(type, result);
      for (const v of m.verdicts) {
        const resolve = this.#pending.get(v.id);
        this.#pending.delete(v.id);
        resolve?.(fromThread(v.outcome));
      }
      if (this.#open === 0 && this.#pending.size === 0 && this.#outbox.length === 0) this.#idle.arm(() => this.#stopIdle(worker));
    });
    const died = (err: Error): void => {
      if (this.#worker !== worker) return;
      this.#worker = null;
      this.#generation++;
      this.#open = 0; // broken at their next step
      this.#idle.disarm();
      this.#outbox = []; // its messages' steps: failed below, or broken at their next step
      this.#pauseMs = nextRestartPause(this.#pauseMs, this.#now() - startedAt, THREAD_RESTART_PAUSES);
      this.#retryAt = this.#now() + this.#pauseMs;
      this.#logger?.error(
        { event: 'checks-thread-died', err: err.message, ...(this.#pauseMs > 0 ? { restart_in_ms: this.#pauseMs } : {}) },
        'the mail authentication thread stopped: the messages in it get temperror, and a new thread starts for the next ones',
      );
      this.#read(Number.POSITIVE_INFINITY); // what it had not read is gone with it
      this.#failPending(err);
    };
    worker.on('error', died);
    worker.on('exit', (code) => died(new Error(`exit code ${code}`)));
    this.#worker = worker;
    return worker;
  }

  /**
   * Queues a step for the running thread; the turn's steps go as one message once the turn's I/O is handled
   * (setImmediate), whatever the number of sessions that gave some.
   */
  #post(step: CheckStep): void {
    this.#idle.disarm();
    if (this.#outbox.length === 0) setImmediate(() => this.#flush());
    this.#outbox.push(step);
  }

  /** The turn's steps as one message, their chunks' memory handed over (each chunk owns its own, see write). */
  #flush(): void {
    const steps = this.#outbox;
    this.#outbox = [];
    if (steps.length > 0) this.#worker?.postMessage(steps, steps.flatMap((s) => s.chunks.map((c) => c.buffer as ArrayBuffer)));
  }

  /** Stops a thread that had nothing to do; it is no longer ours, so its exit is not a death (see #thread's died). */
  #stopIdle(worker: Worker): void {
    if (this.#worker !== worker || this.#open > 0 || this.#pending.size > 0 || this.#outbox.length > 0) return;
    this.#worker = null;
    this.#generation++; // nothing of it is left to finish (#open is 0), but a straggler must not reach a new thread
    this.#read(Number.POSITIVE_INFINITY);
    void worker.terminate();
  }

  /** The thread read `octets` more (Infinity: it is gone): writers waiting for room go on once there is some. */
  #read(octets: number): void {
    this.#inFlight = Math.max(0, this.#inFlight - octets);
    if (this.#inFlight > this.#maxInFlight || this.#waiting.length === 0) return;
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const go of waiting) go();
  }

  #failPending(err: Error): void {
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const resolve of pending) resolve(this.#failed(err));
  }

  #failed(err: Error): CheckResult {
    return failedChecks(this.#data.hostname, err);
  }
}

function fromThread(o: ThreadOutcome): CheckResult {
  const base = { header: o.header, verdict: o.verdict, reply: o.reply, summary: o.summary };
  return o.error === undefined ? base : { ...base, error: new Error(o.error) };
}
