// Test helpers for the queue: a manual clock and timers, a scripted fake courier, items made on disk.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { silentLogger } from '../../src/observability/logger.js';
import type { Address } from '../../src/mail/address.js';
import { newRecipient, type QueueItem } from '../../src/outbound/queue-item.js';
import { QueueStore } from '../../src/outbound/queue-store.js';
import type { Timers } from '../../src/time/timers.js';
import type { Courier, RecipientStatus, TransferRequest, TransferResult } from '../../src/outbound/courier.js';

export const T0 = Date.parse('2026-03-01T12:00:00.000Z');

/** "local@domain" → Address (the tests' own tiny parser: the split is at the last "@"). */
export function addr(text: string): Address {
  const at = text.lastIndexOf('@');
  return { local: text.slice(0, at), domain: text.slice(at + 1) };
}

/** A clock the test moves, and timers that fire only when the test advances that clock. */
export class ManualTime implements Timers {
  now = T0;
  #next = 1;
  readonly #pending = new Map<number, { fn: () => void; at: number }>();

  readonly read = (): number => this.now;

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.#next++;
    this.#pending.set(id, { fn, at: this.now + ms });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#pending.delete(handle as number);
  }

  /** The earliest time a timer is set for, or null. */
  nextTimer(): number | null {
    let at: number | null = null;
    for (const p of this.#pending.values()) if (at === null || p.at < at) at = p.at;
    return at;
  }

  /** Moves the clock to `time` and fires every timer due by then. */
  advanceTo(time: number): void {
    this.now = Math.max(this.now, time);
    for (;;) {
      const due = [...this.#pending.entries()].filter(([, p]) => p.at <= this.now).sort((a, b) => a[1].at - b[1].at)[0];
      if (due === undefined) return;
      this.#pending.delete(due[0]);
      due[1].fn();
    }
  }
}

type Answer = TransferResult | Promise<TransferResult>;

/** A courier that records each request and answers with `script` (per call); waiters are told of every call. */
export class FakeCourier implements Courier {
  readonly calls: TransferRequest[] = [];
  #waiters: { count: number; resolve: (req: TransferRequest) => void }[] = [];
  script: (req: TransferRequest, call: number) => Answer;

  constructor(script: (req: TransferRequest, call: number) => Answer = (req) => allWith(req, 'sent')) {
    this.script = script;
  }

  readonly deliver = (req: TransferRequest): Promise<TransferResult> => {
    this.calls.push(req);
    const ready = this.#waiters.filter((w) => w.count <= this.calls.length);
    this.#waiters = this.#waiters.filter((w) => w.count > this.calls.length);
    for (const w of ready) w.resolve(this.calls[w.count - 1] as TransferRequest);
    return Promise.resolve(this.script(req, this.calls.length));
  };

  /** Resolves with the `count`-th request, once it is made. */
  waitForCall(count: number): Promise<TransferRequest> {
    const done = this.calls[count - 1];
    if (done !== undefined) return Promise.resolve(done);
    return new Promise((resolve) => this.#waiters.push({ count, resolve }));
  }
}

/** Every recipient of the request gets the same outcome. */
export function allWith(req: TransferRequest, status: RecipientStatus, diagnostic?: string, remoteMta: string | null = 'mx.remote.test'): TransferResult {
  const text = diagnostic ?? (status === 'sent' ? '250 2.0.0 Ok' : status === 'transient' ? '451 4.7.1 Try again later' : '550 5.1.1 No such user');
  return {
    outcomes: req.recipients.map((recipient) => ({ recipient, status, diagnostic: text, remoteMta })),
    relay: remoteMta === null ? null : { host: remoteMta, ip: '192.0.2.25', tls: 'TLSv1.3' },
  };
}

/** A courier's answer the test resolves by hand. */
export function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

export async function openStore(
  dir: string,
  time: ManualTime,
  opts: { bodyCacheBytes?: number } = {},
): Promise<{ store: QueueStore; items: QueueItem[] }> {
  return QueueStore.open({ dir, logger: silentLogger(), now: time.read, ...opts });
}

/** <id>.msg split at its first LF: the envelope line (without its LF) and the message that follows, byte for byte. */
export async function readMsgFile(dir: string, id: string): Promise<{ line: string; body: Buffer }> {
  const file = await readFile(join(dir, `${id}.msg`));
  const lf = file.indexOf(0x0a);
  if (lf < 0) throw new Error(`${id}.msg has no envelope line`);
  return { line: file.toString('utf8', 0, lf), body: file.subarray(lf + 1) };
}

/** Everything a stored body gives when iterated (a kept Buffer or chunks read from the file), concatenated. */
export async function collectBody(body: Iterable<Buffer> | AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return Buffer.concat(chunks);
}

export interface ItemSpec {
  readonly from?: string;
  readonly to: readonly string[];
  readonly created?: number;
  readonly body?: string | Buffer;
}

export const SAMPLE_BODY =
  'Received: from client ([127.0.0.1])\n\tby relay.test (facteur); Sun, 1 Mar 2026 12:00:00 +0000\n' +
  'From: Alice <alice@origin.test>\nTo: bob@dest.test\nSubject: Hello\nMessage-ID: <m1@origin.test>\n\nHello Bob.\n';

/** Commits an item on disk the way the delivery does, and returns it. */
export async function storeItem(store: QueueStore, spec: ItemSpec): Promise<QueueItem> {
  const id = store.newId();
  const body = Buffer.from(spec.body ?? SAMPLE_BODY);
  const from = spec.from ?? 'alice@origin.test';
  const item: QueueItem = {
    id,
    from,
    reversePath: from === '' ? null : addr(from),
    created: new Date(spec.created ?? T0).toISOString(),
    size: body.length,
    eightBit: false,
    smtputf8: false,
    recipients: spec.to.map((a) => newRecipient(a, addr(a))),
  };
  await store.add(item, body);
  return item;
}

export const logger = silentLogger;

/** The message stored in <id>.msg: everything after the envelope line. */
export async function storedMessage(dir: string, id: string): Promise<string> {
  const file = await readFile(join(dir, `${id}.msg`), 'utf8');
  return file.slice(file.indexOf('\n') + 1);
}
