// The queue folder's only owner: it writes, changes, removes, recovers and inspects the files of queue-file.ts, and
// keeps the messages that arrived small in memory for their first attempt.
//
// Durability (RFC 5321 §6.1: once we answer 250 the message is our responsibility):
//  - the envelope and the message are streamed to a tmp file, flushed, given the name <id>.msg (never over another
//    file: a taken id means a new one) and the folder flushed (fs/durable-file.ts). The name is the commit point.
//    The folder fsyncs of concurrent commits and removals are grouped (GroupFsync).
//  - state changes replace <id>.json atomically; recovery prefers it to the envelope line.
//  - a finished item loses its .msg first (it stops existing), then its .json; a crash in between leaves a .json
//    alone, which recovery removes.
//  - duplicate window: a recipient's remote 250 is only recorded by the next write of the .json; a crash between
//    that 250 and the write makes us send to that recipient again after the restart. RFC 5321 §6.1 prefers a
//    duplicate to a loss; the window is the time of one atomic write.
import { readdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { fsyncDirectory, makeDurableDir, type SyncDirectory } from '../fs/directory.js';
import { DurableFile, replaceFileDurably } from '../fs/durable-file.js';
import { errorCode } from '../fs/error-code.js';
import { GroupFsync } from '../fs/group-fsync.js';
import { unlinkIfPresent, unlinkIfPresentSync } from '../fs/unlink-if-present.js';
import type { Logger } from '../observability/logger.js';
import type { MessageBody } from './courier.js';
import { CORRUPT_SUFFIX, encodeEnvelope, encodeState, isValidQueueId, MSG_SUFFIX, readBody, readItem, scanNames } from './queue-file.js';
import { byId, type QueueItem } from './queue-item.js';

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

/** A message being queued: write* then finish (committed <id>.msg) or discard. */
export interface MessageWriter {
  /** The id it is written for; finish() may give another one (an id already on disk). */
  readonly id: string;
  /** Appends to the message; an I/O error is kept and thrown by finish(). */
  write(chunk: Buffer): Promise<void>;
  /** Flushes the file, gives it its name and flushes the folder; resolves with the id and the message's size. */
  finish(opts?: { prefix?: Buffer }): Promise<{ readonly id: string; readonly size: number }>;
  /** Removes whatever was written (tmp file or <id>.msg); safe at any time, any number of times. */
  discard(): Promise<void>;
}

const DEFAULT_BODY_CACHE = 32 * 1024 * 1024;

export class QueueStore {
  readonly dir: string;
  readonly #now: () => number;
  readonly #syncDir: SyncDirectory;
  /** Orders ids made within one millisecond; belongs to this store, not to the module. */
  #counter = 0;
  /** Items of a queue written by facteur 0.1: their message is <id>.eml, with no envelope line. */
  readonly #legacy = new Set<string>();
  /** Items with an <id>.json (most are sent at the first attempt and never get one): removal unlinks only what exists. */
  readonly #withState = new Set<string>();
  /**
   * Messages that fit in the writer's buffer, kept from their arrival until the item first changes (saved after its
   * first attempt, or removed): that attempt then sends them without reading the file back.
   */
  readonly #bodies = new Map<string, Buffer>();
  #bodyBytes = 0;
  readonly #bodyBudget: number;

  private constructor(opts: QueueStoreOptions) {
    this.dir = opts.dir;
    this.#now = opts.now;
    const group = opts.groupFsync ?? new GroupFsync();
    this.#syncDir = (dir) => group.sync(dir);
    this.#bodyBudget = opts.bodyCacheBytes ?? DEFAULT_BODY_CACHE;
  }

  /**
   * Creates the folder if needed, clears what interrupted writes left and loads every committed item. A file that
   * cannot be read is renamed <name>.corrupt and kept for the operator, never deleted. Reads synchronously on
   * purpose: it runs once, before anything is served (bench: queue-100000).
   */
  static async open(opts: QueueStoreOptions): Promise<{ store: QueueStore; items: QueueItem[] }> {
    await makeDurableDir(opts.dir);
    const store = new QueueStore(opts);
    const { items, changed } = store.#recover(opts.logger);
    if (changed) await fsyncDirectory(opts.dir);
    return { store, items };
  }

  /**
   * A store that only writes new messages, for a worker process (src/workers): the primary's store owns the folder,
   * so nothing is recovered or cleared here, and no body is kept (the primary's queue sends the message).
   */
  static async writer(opts: QueueStoreOptions): Promise<QueueStore> {
    await makeDurableDir(opts.dir);
    return new QueueStore({ ...opts, bodyCacheBytes: 0 });
  }

  /**
   * Committed items the queue does not know (`known` says which it does): those of a worker that ended between its
   * commit and telling the primary. Nothing is cleared (live workers have files in flight). Each id is checked and
   * read in one synchronous step: an item the queue finished meanwhile has lost its .msg before leaving `known`,
   * so it can never come back from here.
   */
  strays(known: (id: string) => boolean): QueueItem[] {
    const out: QueueItem[] = [];
    for (const [id, files] of scanNames(readdirSync(this.dir)).ids) {
      if (known(id)) continue;
      try {
        const v = readItem(this.dir, id, files);
        if (v.kind !== 'item') continue;
        if (v.legacy) this.#legacy.add(id);
        if (v.state) this.#withState.add(id);
        out.push(v.item);
      } catch (err) {
        if (errorCode(err) !== 'ENOENT') throw err;
      }
    }
    return out;
  }

  /**
   * The items of a queue folder without changing anything, and what could not be read: for `queue list` while the
   * server is stopped (a server starting meanwhile owns the cleanup). A folder that does not exist is an empty queue.
   */
  static inspect(dir: string): { items: QueueItem[]; problems: string[] } {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch (err) {
      if (errorCode(err) === 'ENOENT') return { items: [], problems: [] };
      throw err;
    }
    const items: QueueItem[] = [];
    const problems: string[] = [];
    for (const [id, files] of scanNames(names).ids) {
      try {
        const v = readItem(dir, id, files);
        if (v.kind === 'item') items.push(v.item);
        if (v.kind === 'item' && v.badState !== undefined) problems.push(`${id}.json: ${v.badState} (listed as it arrived: every recipient pending)`);
        if (v.kind === 'corrupt') problems.push(`${v.files.join(', ')}: ${v.why}`);
      } catch (err) {
        if (errorCode(err) !== 'ENOENT') throw err; // removed meanwhile by the running server
      }
    }
    return { items: items.sort(byId), problems };
  }

  /** `queue delete` while the server is stopped: removes one item's files; false if it is not queued. */
  static removeWhileStopped(dir: string, id: string): Promise<boolean> {
    return removeFiles(dir, checkedId(id), fsyncDirectory, { json: true, eml: true });
  }

  /** A new id: base-36 time, a counter and randomness, so ids sort by arrival and (almost) never repeat. */
  newId(): string {
    const time = this.#now().toString(36).padStart(9, '0');
    this.#counter = (this.#counter + 1) % 36 ** 4;
    const counter = this.#counter.toString(36).padStart(4, '0');
    // Time and counter are unique within the process; after a restart with the clock set back they may repeat.
    // 41 random bits make that rare (no secrecy is needed, so no CSPRNG call), and a commit never replaces a file.
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
   * Starts queuing `envelope` under its id (its size is not read: it is the message's, known at finish). The file is
   * created with mode 0600 (mail is private), in the background while the client sends the text (a failure is
   * reported by finish()), and begins with the envelope line.
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
        head: (name) => encodeEnvelope({ ...envelope, id: idOf(name) }),
      },
      { syncDir: this.#syncDir },
    );
    return {
      id: envelope.id,
      write: (chunk) => file.write(chunk),
      finish: async (opts) => {
        const { name, size } = await file.commit(opts);
        const body = file.inMemory();
        if (body !== null) this.#keepBody(idOf(name), body);
        return { id: idOf(name), size };
      },
      discard: async () => {
        await file.abort();
        if (file.path === null) return;
        this.#forgetBody(idOf(file.name));
        await unlinkIfPresent(file.path);
      },
    };
  }

  /** Stores a complete small message (a bounce) and commits it; resolves with the item as stored (its id may differ). */
  async add(item: QueueItem, body: Buffer): Promise<QueueItem> {
    const writer = await this.createMessage(item);
    try {
      await writer.write(body);
      const { id } = await writer.finish();
      return { ...item, id };
    } catch (err) {
      await writer.discard();
      throw err;
    }
  }

  /** Replaces the item's state atomically, beside its message (after an attempt that leaves it queued). */
  async save(item: QueueItem): Promise<void> {
    this.#forgetBody(item.id); // its first attempt is over: later ones, hours apart, read the file
    this.#withState.add(item.id); // before the write: a removal racing it must look for the file
    await replaceFileDurably(this.jsonPath(item.id), encodeState(item), { syncDir: this.#syncDir });
  }

  /**
   * Removes an item: .msg first (it stops existing), then the rest. Resolves false if there was no item.
   * `durable: false` (a message delivered to every recipient) leaves the folder unflushed: a crash before the
   * kernel writes the folder back may bring the message back after the restart, and it is sent once more. That is
   * the duplicate RFC 5321 §6.1 prefers to a loss, at most once per message, and it saves a folder flush per
   * removal group on the relay's busiest path. `queue delete` (the operator's order) stays durable.
   */
  remove(id: string, opts: { readonly durable?: boolean } = {}): Promise<boolean> {
    this.#forgetBody(id);
    const files = { json: this.#withState.delete(id), eml: this.#legacy.delete(id) };
    return removeFiles(this.dir, checkedId(id), opts.durable === false ? async () => undefined : this.#syncDir, files);
  }

  /** The stored message (LF line endings, not dot-stuffed); iterating it again reads it again. */
  openBody(id: string): MessageBody {
    const kept = this.#bodies.get(id);
    if (kept !== undefined) return [kept];
    const legacy = this.#legacy.has(id);
    const path = legacy ? join(this.dir, `${checkedId(id)}.eml`) : this.msgPath(id);
    return { [Symbol.asyncIterator]: () => readBody(path, !legacy) };
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

  #forgetBody(id: string): void {
    const kept = this.#bodies.get(id);
    if (kept === undefined) return;
    this.#bodies.delete(id);
    this.#bodyBytes -= kept.length;
  }

  /** Loads every item and clears the leftovers of interrupted writes; says whether the folder changed (to be flushed). */
  #recover(logger: Logger): { items: QueueItem[]; changed: boolean } {
    const items: QueueItem[] = [];
    let changed = false;
    const { ids, tmp } = scanNames(readdirSync(this.dir));
    const setAside = (file: string, why: string, message: string): void => {
      logger.error({ event: 'queue-corrupt', file, err: why }, message);
      renameSync(join(this.dir, file), join(this.dir, `${file}${CORRUPT_SUFFIX}`));
      changed = true;
    };
    const clear = (file: string, why: string): void => {
      logger.warn({ event: 'queue-cleanup', file }, `removing ${why}`);
      unlinkIfPresentSync(join(this.dir, file));
      changed = true;
    };
    for (const name of tmp) clear(name, 'temporary file left by an interrupted write');
    for (const [id, files] of ids) {
      const v = readItem(this.dir, id, files);
      if (v.kind === 'leftover') clear(v.file, v.why);
      // Never crash on one bad file, never delete it: keep it for the operator and go on with the others.
      else if (v.kind === 'corrupt') for (const file of v.files) setAside(file, v.why, `moving unreadable queue file aside to ${file}${CORRUPT_SUFFIX}`);
      else {
        items.push(v.item);
        if (v.legacy) this.#legacy.add(id);
        if (v.state) this.#withState.add(id);
        const note = `state file unreadable, moved aside to ${id}.json${CORRUPT_SUFFIX}; using the envelope (recipients already served may get a second copy)`;
        if (v.badState !== undefined) setAside(`${id}.json`, v.badState, note);
      }
    }
    return { items: items.sort(byId), changed };
  }
}

/**
 * Removes <id>.msg, then <id>.json and <id>.eml (0.1) unless `files` says they do not exist, and flushes the
 * folder; false if the item did not exist.
 */
async function removeFiles(dir: string, id: string, syncDir: SyncDirectory, files: { readonly json: boolean; readonly eml: boolean }): Promise<boolean> {
  const base = join(dir, id);
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

const idOf = (name: string): string => name.slice(0, -MSG_SUFFIX.length);
