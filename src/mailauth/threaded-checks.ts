// The inbound checks run in a thread of their own (checks-thread.ts), not on the event loop that every session
// shares. Measured (README, Performance, "Mail authentication"): on a loaded server the checks took 0.3-0.4 ms of
// the event loop per message, two to three times their cost alone (the server's work between two messages leaves
// their code and data out of the caches), and the event loop is what limits a busy server first. Here the event
// loop spends 0.01-0.15 ms per message on them (a copy of the text, one message each way); the checks themselves
// cost about as much CPU as before, on the other cores.
import { Worker } from 'node:worker_threads';
import type { Logger } from '../observability/logger.js';
import type { ChecksThreadData, FromChecksThread, ThreadOutcome, ToChecksThread } from './checks-thread-messages.js';
import type { ChecksRun, ChecksStarter } from './mailauth-check.js';
import { failedChecks, type CheckResult, type SessionFacts } from './message-checks.js';

const THREAD_SCRIPT = new URL('./checks-thread.js', import.meta.url);
/** Octets of a message held before they go to the thread (the rest of a message's text is never held). */
const BATCH = 64 * 1024;

export class ThreadedChecks implements ChecksStarter {
  readonly #data: ChecksThreadData;
  readonly #onLookup: ((type: string, result: string) => void) | undefined;
  readonly #logger: Logger | undefined;
  #worker: Worker | null = null;
  /** Bumped when a thread dies: a message started on an earlier one cannot be finished. */
  #generation = 0;
  /** The messages waiting for their verdict, by id. */
  readonly #pending = new Map<number, { readonly generation: number; readonly resolve: (r: CheckResult) => void }>();
  #nextId = 0;
  #closed = false;
  readonly #script: URL;

  /** `script`: the thread's code (tests give one that fails on purpose). */
  constructor(data: ChecksThreadData, opts: { onLookup?: (type: string, result: string) => void; logger?: Logger; script?: URL } = {}) {
    this.#data = data;
    this.#script = opts.script ?? THREAD_SCRIPT;
    this.#onLookup = opts.onLookup;
    this.#logger = opts.logger;
  }

  start(facts: SessionFacts): ChecksRun {
    const id = ++this.#nextId;
    let generation: number | null = null; // the thread's, once the first step went to it
    // Chunks wait here until BATCH octets or the end: a small message crosses over in one step, with its verdict's
    // request; a large one in steps of BATCH, so that no more than that is held.
    let held: Uint8Array[] = [];
    let heldSize = 0;
    const send = (end: boolean): boolean => {
      const chunks = held;
      held = [];
      heldSize = 0;
      if (this.#closed) return false;
      if (generation !== null && generation !== this.#generation) return false; // its thread died with what it had read
      const worker = this.#thread();
      const step: ToChecksThread = { id, ...(generation === null ? { facts } : {}), chunks, ...(end ? { end: true } : {}) };
      generation = this.#generation;
      worker.postMessage(step, chunks.map((c) => c.buffer as ArrayBuffer));
      return true;
    };
    return {
      write: (chunk) => {
        // A copy with memory of its own, handed over without another (Buffer.from could share Node's pool).
        held.push(new Uint8Array(chunk));
        heldSize += chunk.length;
        if (heldSize >= BATCH) send(false);
      },
      finish: () =>
        new Promise<CheckResult>((resolve) => {
          if (!send(true)) {
            resolve(this.#failed(new Error('the checks thread stopped during the message')));
            return;
          }
          this.#pending.set(id, { generation: generation as number, resolve });
        }),
      abort: () => {
        held = [];
        if (generation !== null && generation === this.#generation && !this.#closed) this.#worker?.postMessage({ id, chunks: [], abort: true } satisfies ToChecksThread);
      },
    };
  }

  /** Stops the thread; messages still waiting get the temperror verdict. */
  async close(): Promise<void> {
    this.#closed = true;
    const worker = this.#worker;
    this.#worker = null;
    this.#failPending(new Error('the server is stopping'));
    await worker?.terminate();
  }

  /** The running thread, started on first use and again after a crash. */
  #thread(): Worker {
    if (this.#worker !== null) return this.#worker;
    // A young generation of 8 MB instead of V8's default: 10-15 MB less resident memory under load, the same CPU
    // (2026-12-03, two pairs of the bench's mailauth-inbound cells, 5,000 messages each).
    const worker = new Worker(this.#script, { workerData: this.#data, resourceLimits: { maxYoungGenerationSizeMb: 8 } });
    worker.unref(); // the listeners keep the process alive, not this thread
    worker.on('message', (m: FromChecksThread) => {
      for (const [type, result] of m.lookups) this.#onLookup?.(type, result);
      const waiting = this.#pending.get(m.id);
      this.#pending.delete(m.id);
      waiting?.resolve(fromThread(m.outcome));
    });
    const died = (err: Error): void => {
      if (this.#worker !== worker) return;
      this.#worker = null;
      this.#generation++;
      this.#logger?.error({ event: 'checks-thread-died', err: err.message }, 'the mail authentication thread stopped: messages in it get temperror, the next one starts a new thread');
      this.#failPending(err);
    };
    worker.on('error', died);
    worker.on('exit', (code) => died(new Error(`exit code ${code}`)));
    this.#worker = worker;
    return worker;
  }

  #failPending(err: Error): void {
    for (const [id, waiting] of this.#pending) {
      if (waiting.generation === this.#generation && !this.#closed) continue; // on the new thread: still coming
      this.#pending.delete(id);
      waiting.resolve(this.#failed(err));
    }
  }

  #failed(err: Error): CheckResult {
    return failedChecks(this.#data.hostname, err);
  }
}

function fromThread(o: ThreadOutcome): CheckResult {
  const base = { header: o.header, verdict: o.verdict, reply: o.reply, summary: o.summary };
  return o.error === undefined ? base : { ...base, error: new Error(o.error) };
}
