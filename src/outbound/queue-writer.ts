// Writing one message into the queue: the envelope line and the text into a tmp file, then the commit (fdatasync,
// rename to <id>.msg, fsync of the directory). See queue-store.ts for the layout and queue-file.ts for the format.
import { renameSync } from 'node:fs';
import { dirname } from 'node:path';
import type { QuickFile } from '../fs/quick-file.js';
import { Serial } from '../fs/serial.js';
import { unlinkIfPresent } from '../fs/unlink-if-present.js';

/** A message being queued: write* then finish (committed <id>.msg) or discard. */
export interface MessageWriter {
  readonly id: string;
  /** Appends to the message; serialised with the other calls. Throws the I/O error. */
  write(chunk: Buffer): Promise<void>;
  /** Flushes, fdatasyncs, renames the file to <id>.msg and flushes the directory; resolves with the message's size. */
  finish(): Promise<number>;
  /** Removes whatever was written (tmp file or <id>.msg); safe at any time, any number of times. */
  discard(): Promise<void>;
}

/** Bytes gathered before a write(2): a message that fits (envelope included) costs one write and is kept in memory. */
const BUFFER_SIZE = 64 * 1024;

export interface WriterParts {
  readonly id: string;
  readonly handle: Promise<QuickFile>;
  readonly tmp: string;
  readonly final: string;
  readonly envelope: Buffer;
  readonly syncDir: (dir: string) => Promise<void>;
  /** Given the message when it fit in the buffer, once committed. */
  readonly keep: (body: Buffer) => void;
}

export class FileMessageWriter implements MessageWriter {
  readonly id: string;
  readonly #p: WriterParts;
  /** The tmp file once created; null before, after close, or if it could not be created. */
  #handle: QuickFile | null = null;
  /** Settles once the creation is over; rejects with its error (handled: reported by the next write or finish). */
  readonly #created: Promise<void>;
  #buffer = Buffer.allocUnsafe(BUFFER_SIZE);
  #used = 0;
  #size = 0;
  /** Whether the buffer was ever written out: if not, it holds the whole file at finish. */
  #flushed = false;
  /** Where the file is: being created, in its tmp name, renamed to <id>.msg, removed, or never made. */
  #place: 'creating' | 'tmp' | 'final' | 'gone' | 'failed' = 'creating';
  /** Why the file could not be created: what every later write and finish() report. */
  #createError: unknown = null;
  /** Every call runs after the previous one, so discard() never races a write. */
  readonly #ops = new Serial();

  constructor(parts: WriterParts) {
    this.id = parts.id;
    this.#p = parts;
    this.#created = parts.handle.then(
      (handle) => {
        this.#handle = handle;
        this.#place = 'tmp';
      },
      (err: unknown) => {
        this.#place = 'failed'; // nothing of ours to remove: O_EXCL refused the name, or worse
        this.#createError = err;
        throw err;
      },
    );
    this.#created.catch(() => undefined);
    if (parts.envelope.length <= BUFFER_SIZE) this.#used = parts.envelope.copy(this.#buffer, 0);
    else {
      this.#buffer = Buffer.concat([parts.envelope], Math.max(BUFFER_SIZE, parts.envelope.length));
      this.#used = parts.envelope.length;
    }
  }

  write(chunk: Buffer): Promise<void> {
    return this.#ops.run(() => this.#append(chunk));
  }

  finish(): Promise<number> {
    return this.#ops.run(() => this.#finish());
  }

  discard(): Promise<void> {
    return this.#ops.run(() => this.#discard());
  }

  async #append(chunk: Buffer): Promise<void> {
    this.#writable();
    this.#size += chunk.length;
    // Small chunks (a line each) are gathered so that a small message costs one write(2).
    if (this.#used + chunk.length <= this.#buffer.length) {
      chunk.copy(this.#buffer, this.#used);
      this.#used += chunk.length;
      return;
    }
    const handle = await this.#open();
    await this.#flush(handle);
    if (chunk.length >= this.#buffer.length) await writeAll(handle, chunk);
    else {
      chunk.copy(this.#buffer, 0);
      this.#used = chunk.length;
    }
  }

  async #flush(handle: QuickFile): Promise<void> {
    this.#flushed = true;
    if (this.#used === 0) return;
    await writeAll(handle, this.#buffer.subarray(0, this.#used));
    this.#used = 0;
  }

  async #finish(): Promise<number> {
    const handle = await this.#open();
    const whole = this.#flushed ? null : this.#buffer.subarray(this.#p.envelope.length, this.#used);
    await this.#flush(handle);
    await handle.datasync();
    await handle.close();
    this.#handle = null;
    renameSync(this.#p.tmp, this.#p.final); // see fs/quick-file.ts: cheap steps stay on the event loop
    this.#place = 'final';
    await this.#p.syncDir(dirname(this.#p.final));
    if (whole !== null) this.#p.keep(Buffer.from(whole));
    return this.#size;
  }

  async #discard(): Promise<void> {
    await this.#created.catch(() => undefined); // a file still being created is removed once it exists
    if (this.#handle !== null) {
      const handle = this.#handle;
      this.#handle = null;
      await handle.close().catch(() => undefined);
    }
    if (this.#place === 'tmp') await unlinkIfPresent(this.#p.tmp);
    if (this.#place === 'final') await unlinkIfPresent(this.#p.final);
    if (this.#place !== 'failed') this.#place = 'gone';
  }

  #writable(): void {
    if (this.#place === 'failed') throw this.#createError;
    if (this.#place !== 'creating' && this.#place !== 'tmp') throw new Error(`queue message ${this.id} is already closed`);
  }

  /** The tmp file, once created; throws the creation's error. */
  async #open(): Promise<QuickFile> {
    this.#writable();
    await this.#created;
    if (this.#handle === null) throw new Error(`queue message ${this.id} is already closed`);
    return this.#handle;
  }
}

async function writeAll(handle: QuickFile, data: Buffer): Promise<void> {
  let offset = 0;
  while (offset < data.length) {
    const { bytesWritten } = await handle.write(data, offset, data.length - offset);
    offset += bytesWritten;
  }
}

