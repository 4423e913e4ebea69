// Writing one message into the queue: the envelope line and the text into a durable file that becomes <id>.msg.
// See queue-store.ts for the layout and queue-file.ts for the format.
import type { DurableFile } from '../fs/durable-file.js';
import { unlinkIfPresent } from '../fs/unlink-if-present.js';
import { MSG_SUFFIX } from './queue-file.js';

/** A message being queued: write* then finish (committed <id>.msg) or discard. */
export interface MessageWriter {
  /** The id it is written for; finish() may give another one (a clash with an existing file). */
  readonly id: string;
  /** Appends to the message; an I/O error is kept and thrown by finish(). */
  write(chunk: Buffer): Promise<void>;
  /** Flushes the file, gives it its name and flushes the folder; resolves with the id and the message's size. */
  finish(opts?: { prefix?: Buffer }): Promise<{ readonly id: string; readonly size: number }>;
  /** Removes whatever was written (tmp file or <id>.msg); safe at any time, any number of times. */
  discard(): Promise<void>;
}

export class FileMessageWriter implements MessageWriter {
  readonly id: string;
  readonly #file: DurableFile;
  /** Given the message when it never left the writer's buffer, once committed. */
  readonly #keep: (id: string, body: Buffer) => void;

  constructor(file: DurableFile, keep: (id: string, body: Buffer) => void) {
    this.#file = file;
    this.id = idOf(file.name);
    this.#keep = keep;
  }

  write(chunk: Buffer): Promise<void> {
    return this.#file.write(chunk);
  }

  async finish(opts: { prefix?: Buffer } = {}): Promise<{ id: string; size: number }> {
    const { name, size } = await this.#file.commit(opts);
    const id = idOf(name);
    const body = this.#file.inMemory();
    if (body !== null) this.#keep(id, body);
    return { id, size };
  }

  async discard(): Promise<void> {
    await this.#file.abort();
    const placed = this.#file.path;
    if (placed !== null) await unlinkIfPresent(placed);
  }
}

const idOf = (name: string): string => name.slice(0, -MSG_SUFFIX.length);
