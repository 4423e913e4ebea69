// The queue on disk: <id>.msg (the envelope line and the message, queue-file.ts) + <id>.json once an attempt changed
// the recipients' state.
//
// Durability (RFC 5321 §6.1: once we answer 250 the message is our responsibility):
//  - the envelope and the message are streamed to a tmp file, fdatasynced, renamed to <id>.msg, and the directory
//    fsynced. Only then is the item committed (the rename is the commit point). The directory fsyncs of concurrent
//    commits and removals are grouped (GroupFsync): each waits for an fsync that started after its rename.
//  - state changes replace <id>.json atomically (tmp, fsync, rename); recovery prefers it to the envelope line.
//  - a finished item loses its .msg first (it stops existing), then its .json; a crash in between leaves a .json
//    alone, which recovery removes (queue-recovery.ts).
//  - duplicate window: a recipient's remote 250 is only recorded by the next atomic write of the .json; a crash
//    between that 250 and the write makes us send to that recipient again after the restart. RFC 5321 §6.1
//    prefers a duplicate to a loss; the window is the time of one atomic write.
import { join } from 'node:path';
import { fsyncDirectory, makeDurableDir } from '../fs/directory.js';
import { DurableFile, replaceFileDurably } from '../fs/durable-file.js';
import { GroupFsync } from '../fs/group-fsync.js';
import type { Logger } from '../observability/logger.js';
import type { MessageBody } from './courier.js';
import { encodeEnvelope, MSG_SUFFIX, readBody } from './queue-file.js';
import { isValidQueueId, serializeQueueItem, type QueueItem } from './queue-item.js';
import { recoverQueueDir } from './queue-recovery.js';
import { unlinkIfPresent } from '../fs/unlink-if-present.js';
import { FileMessageWriter, type MessageWriter } from './queue-writer.js';

export type { MessageWriter } from './queue-writer.js';

export interface QueueStoreOptions {
  /** <data_dir>/<queue_dir>, absolute. */
  readonly dir: string;
  readonly logger: Logger;
  readonly now: () => number;
  /** Shares the queue directory's fsyncs between concurrent commits and removals (default: the store's own). */
  readonly groupFsync?: GroupFsync;
  /** Bytes of small messages kept in memory for their first attempt, in all (default 32 MiB; 0: none). */
  readonly bodyCacheBytes?: number;
}

const DEFAULT_BODY_CACHE = 32 * 1024 * 1024;

export class QueueStore {
  readonly dir: string;
  readonly #now: () => number;
  /** fsync(2) of a directory, resolved only by an fsync that started after the call (a rename before it is covered). */
  readonly #syncDir: (dir: string) => Promise<void>;
  /** Orders ids made within one millisecond; belongs to this store, not to the module. */
  #counter = 0;
  /** Items loaded from a queue written by facteur 0.1: their message is <id>.eml, with no envelope line. */
  readonly #legacy: Set<string>;
  /** Items with an <id>.json (most are sent at the first attempt and never get one): removal unlinks only what exists. */
  readonly #withState: Set<string>;
  /**
   * Messages that fit in the writer's buffer, kept from their arrival until their first attempt ends: the transfer
   * then sends them without reading the file back (four trips through the thread pool saved per message).
   */
  readonly #bodies = new Map<string, Buffer>();
  #bodyBytes = 0;
  readonly #bodyBudget: number;

  private constructor(opts: QueueStoreOptions, legacy: Set<string>, withState: Set<string>) {
    this.dir = opts.dir;
    this.#now = opts.now;
    const group = opts.groupFsync ?? new GroupFsync();
    this.#syncDir = (dir) => group.sync(dir);
    this.#legacy = legacy;
    this.#withState = withState;
    this.#bodyBudget = opts.bodyCacheBytes ?? DEFAULT_BODY_CACHE;
  }

  /** Creates the directory if needed, removes the leftovers of interrupted writes and loads every committed item. */
  static async open(opts: QueueStoreOptions): Promise<{ store: QueueStore; items: QueueItem[] }> {
    await makeDurableDir(opts.dir);
    const { items, legacy, withState, changed } = recoverQueueDir(opts.dir, opts.logger);
    if (changed) await fsyncDirectory(opts.dir);
    return { store: new QueueStore(opts, legacy, withState), items };
  }

  /** A new id: base-36 time, a counter and randomness, so ids sort by arrival and never repeat. */
  newId(): string {
    const time = this.#now().toString(36).padStart(9, '0');
    this.#counter = (this.#counter + 1) % 36 ** 4;
    const counter = this.#counter.toString(36).padStart(4, '0');
    // Time and counter are unique within the process; after a restart with the clock set back they may repeat,
    // and the commit's rename would then replace another message. 41 random bits make that negligible (no
    // secrecy is needed, so no CSPRNG call).
    const random = Math.floor(Math.random() * 36 ** 8).toString(36).padStart(8, '0');
    return `${time}${counter}${random}`;
  }

  msgPath(id: string): string {
    return join(this.dir, `${checkedId(id)}${MSG_SUFFIX}`);
  }

  jsonPath(id: string): string {
    return join(this.dir, `${checkedId(id)}.json`);
  }

  /**
   * Starts queuing `envelope` (its size is not read: it is the message's, known at finish). The file is created
   * with mode 0600 (mail is private), in the background while the client sends the text (a failure is reported by
   * finish()), and begins with the envelope line. It never replaces a message: an id already on disk means a new id.
   */
  async createMessage(envelope: QueueItem): Promise<MessageWriter> {
    let first: string | null = checkedId(envelope.id);
    const file = new DurableFile(
      {
        dir: this.dir,
        nextName: () => {
          const id = first ?? this.newId();
          first = null;
          return `${id}${MSG_SUFFIX}`;
        },
        head: (name) => encodeEnvelope({ ...envelope, id: name.slice(0, -MSG_SUFFIX.length) }),
      },
      { syncDir: this.#syncDir },
    );
    return new FileMessageWriter(file, (id, body) => this.#keepBody(id, body));
  }

  /** Replaces the item's state atomically, beside its message (after an attempt that leaves it queued). */
  async save(item: QueueItem): Promise<void> {
    this.#withState.add(item.id); // before the write: a removal racing it must look for the file
    await replaceFileDurably(this.jsonPath(item.id), serializeQueueItem(item), { syncDir: this.#syncDir });
  }

  /** Stores a complete small message (a bounce) and commits it. */
  async add(item: QueueItem, body: Buffer): Promise<void> {
    const writer = await this.createMessage(item);
    try {
      await writer.write(body);
      await writer.finish();
    } catch (err) {
      await writer.discard();
      throw err;
    }
  }

  /** Removes an item: .msg first (it stops existing), then the rest. Resolves false if there was no item. */
  remove(id: string): Promise<boolean> {
    this.forgetBody(id);
    const files = { json: this.#withState.delete(id), eml: this.#legacy.delete(id) };
    return removeItemFiles(this.dir, id, this.#syncDir, files);
  }

  /** The stored message (LF line endings, not dot-stuffed); iterating it again reads it again. */
  openBody(id: string): MessageBody {
    const kept = this.#bodies.get(id);
    if (kept !== undefined) return [kept];
    const legacy = this.#legacy.has(id);
    const path = legacy ? join(this.dir, `${checkedId(id)}.eml`) : this.msgPath(id);
    return { [Symbol.asyncIterator]: () => readBody(path, !legacy) };
  }

  /** The first attempt is over: later ones read the message from disk. */
  forgetBody(id: string): void {
    const kept = this.#bodies.get(id);
    if (kept === undefined) return;
    this.#bodies.delete(id);
    this.#bodyBytes -= kept.length;
  }

  /** The message's header section (up to its first empty line), read streaming and capped at `maxBytes`. */
  async readHeaders(id: string, maxBytes: number): Promise<Buffer> {
    const buf = Buffer.alloc(maxBytes);
    let length = 0;
    for await (const chunk of this.openBody(id)) {
      const searchFrom = Math.max(0, length - 1);
      length += chunk.copy(buf, length);
      const end = buf.subarray(0, length).indexOf('\n\n', searchFrom);
      if (end >= 0) return Buffer.from(buf.subarray(0, end + 1));
      if (length === maxBytes) break;
    }
    // No empty line within the cap (or a message with no body): keep whole lines only.
    const lastLf = buf.subarray(0, length).lastIndexOf('\n');
    return Buffer.from(buf.subarray(0, length === maxBytes && lastLf >= 0 ? lastLf + 1 : length));
  }

  #keepBody(id: string, body: Buffer): void {
    if (this.#bodyBytes + body.length > this.#bodyBudget) return;
    this.#bodies.set(id, body);
    this.#bodyBytes += body.length;
  }
}

/**
 * Removes <id>.msg, then <id>.json and <id>.eml (0.1) unless `files` says they do not exist, and flushes the
 * directory; false if the item did not exist.
 */
export async function removeItemFiles(
  dir: string,
  id: string,
  syncDir: (dir: string) => Promise<void> = fsyncDirectory,
  files: { readonly json: boolean; readonly eml: boolean } = { json: true, eml: true },
): Promise<boolean> {
  const base = join(dir, checkedId(id));
  const msg = await unlinkIfPresent(`${base}${MSG_SUFFIX}`);
  const json = files.json && (await unlinkIfPresent(`${base}.json`));
  const eml = files.eml && (await unlinkIfPresent(`${base}.eml`));
  if (!msg && !json && !eml) return false;
  await syncDir(dir);
  // A lone .json or .eml is the leftover of an interrupted removal or write, not an item.
  return msg || (json && eml);
}

function checkedId(id: string): string {
  // Defence in depth: an id is a file name, so nothing but [A-Za-z0-9] ever gets this far.
  if (!isValidQueueId(id)) throw new Error(`invalid queue id ${JSON.stringify(id)}`);
  return id;
}
