// The queue on disk: <id>.eml (the body, LF line endings) + <id>.json (envelope and state, the commit point).
//
// Durability (RFC 5321 §6.1: once we answer 250 the message is our responsibility):
//  - the body is streamed to a tmp file, fsynced and renamed to <id>.eml; then <id>.json is written atomically
//    (tmp, fsync, rename) and the directory fsynced. Only then is the item committed. The directory fsyncs of
//    concurrent commits and removals are grouped (GroupFsync): each waits for an fsync that started after its rename.
//  - the .json is the commit point: at startup an .eml without its .json, or any tmp file, is a leftover of an
//    interrupted write and is removed; a .json that cannot be read is moved aside to <id>.json.corrupt.
//  - a finished item loses its .json first, then its .eml, so a crash in between leaves only a removable .eml.
//  - duplicate window: a recipient's remote 250 is only recorded by the next atomic rewrite of the .json; a crash
//    between that 250 and the rewrite makes us send to that recipient again after the restart. RFC 5321 §6.1
//    prefers a duplicate to a loss; the window is the time of one atomic rewrite.
import { randomBytes } from 'node:crypto';
import { createReadStream, readFileSync, renameSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { fsyncDir, tmpPathFor, TMP_SUFFIX, writeFileAtomic } from '../fs/safe-write.js';
import { GroupFsync } from '../fs/group-fsync.js';
import type { Logger } from '../observability/logger.js';
import { isValidQueueId, parseQueueItem, serializeQueueItem, type QueueItem } from './queue-item.js';
import { Serial } from '../fs/serial.js';
import { createQuickFile, type QuickFile } from '../fs/quick-file.js';

/** A body being written: write* then finish (durable <id>.eml) or discard. */
export interface BodyWriter {
  readonly id: string;
  /** Appends; serialised with the other calls. Throws the I/O error. */
  write(chunk: Buffer): Promise<void>;
  /** Flushes, fsyncs and renames the file to <id>.eml; resolves with its size in bytes. */
  finish(): Promise<number>;
  /** Removes whatever was written (tmp file or <id>.eml); safe at any time, any number of times. */
  discard(): Promise<void>;
}

export interface QueueStoreOptions {
  /** <data_dir>/<queue_dir>, absolute. */
  readonly dir: string;
  readonly logger: Logger;
  readonly now: () => number;
  /** Shares the queue directory's fsyncs between concurrent commits and removals (default: the store's own). */
  readonly groupFsync?: GroupFsync;
}

const BUFFER_SIZE = 64 * 1024;
const CORRUPT_SUFFIX = '.corrupt';

export class QueueStore {
  readonly dir: string;
  readonly #logger: Logger;
  readonly #now: () => number;
  /** fsync(2) of a directory, resolved only by an fsync that started after the call (a rename before it is covered). */
  readonly #syncDir: (dir: string) => Promise<void>;
  /** Orders ids made within one millisecond; belongs to this store, not to the module. */
  #counter = 0;

  private constructor(opts: QueueStoreOptions) {
    this.dir = opts.dir;
    this.#logger = opts.logger;
    this.#now = opts.now;
    const group = opts.groupFsync ?? new GroupFsync();
    this.#syncDir = (dir) => group.sync(dir);
  }

  /** Creates the directory if needed, removes the leftovers of interrupted writes and loads every committed item. */
  static async open(opts: QueueStoreOptions): Promise<{ store: QueueStore; items: QueueItem[] }> {
    const created = await mkdir(opts.dir, { recursive: true, mode: 0o700 });
    // A new directory is durable once its parents are flushed: every one from the queue dir up to the first created.
    if (created !== undefined) {
      for (let d = opts.dir; d !== dirname(created) && d !== dirname(d); d = dirname(d)) await fsyncDir(dirname(d));
    }
    const store = new QueueStore(opts);
    const items = await store.#recover();
    return { store, items };
  }

  /** A new id: base-36 time, a counter and randomness, so ids sort by arrival and never repeat. */
  newId(): string {
    const time = this.#now().toString(36).padStart(9, '0');
    this.#counter = (this.#counter + 1) % 36 ** 4;
    const counter = this.#counter.toString(36).padStart(4, '0');
    const random = (randomBytes(4).readUInt32BE(0) % 36 ** 4).toString(36).padStart(4, '0');
    return `${time}${counter}${random}`;
  }

  emlPath(id: string): string {
    return join(this.dir, `${checkedId(id)}.eml`);
  }

  jsonPath(id: string): string {
    return join(this.dir, `${checkedId(id)}.json`);
  }

  /** Starts the body of a new item (file mode 0600: mail is private). */
  async createBody(id: string): Promise<BodyWriter> {
    const final = this.emlPath(id);
    const tmp = tmpPathFor(final);
    const handle = await createQuickFile(tmp);
    return new FileBodyWriter(id, handle, tmp, final);
  }

  /** Writes the item's state atomically; the item is committed once this resolves. */
  save(item: QueueItem): Promise<void> {
    return writeFileAtomic(this.jsonPath(item.id), serializeQueueItem(item), 0o600, this.#syncDir);
  }

  /** Stores a complete small message (a bounce) and commits it. */
  async add(item: QueueItem, body: Buffer): Promise<void> {
    const writer = await this.createBody(item.id);
    try {
      await writer.write(body);
      await writer.finish();
      await this.save(item);
    } catch (err) {
      await writer.discard();
      throw err;
    }
  }

  /** Removes an item: .json first (it stops existing), then .eml. Resolves false if there was no .json. */
  remove(id: string): Promise<boolean> {
    return removeItemFiles(this.dir, id, this.#syncDir);
  }

  /** The stored body, streamed. */
  openBody(id: string): Readable {
    return createReadStream(this.emlPath(id));
  }

  /** The message's header section (up to its first empty line), read streaming and capped at `maxBytes`. */
  readHeaders(id: string, maxBytes: number): Promise<Buffer> {
    return readHeaderSection(this.emlPath(id), maxBytes);
  }

  async #recover(): Promise<QueueItem[]> {
    const names = new Set(await readdir(this.dir));
    const items: QueueItem[] = [];
    let changed = false;
    for (const name of names) {
      const path = join(this.dir, name);
      if (name.endsWith(TMP_SUFFIX)) {
        this.#logger.warn({ event: 'queue-cleanup', file: name }, 'removing temporary file left by an interrupted write');
        await unlinkIfPresent(path);
        changed = true;
        continue;
      }
      const eml = /^([A-Za-z0-9]+)\.eml$/.exec(name);
      if (eml !== null && !names.has(`${eml[1]}.json`)) {
        this.#logger.warn({ event: 'queue-cleanup', file: name }, 'removing message body without envelope (interrupted write, never acknowledged)');
        await unlinkIfPresent(path);
        changed = true;
        continue;
      }
      const json = /^([A-Za-z0-9]+)\.json$/.exec(name);
      if (json === null) continue;
      const id = json[1] ?? '';
      try {
        // Synchronous on purpose: this runs once at start, before anything is served, and 100,000 small reads
        // are several times faster without a round trip through the thread pool each (bench: queue-100000).
        const item = parseQueueItem(readFileSync(path, 'utf8'));
        if (item.id !== id) throw new Error(`its id ${JSON.stringify(item.id)} does not match the file name`);
        if (!names.has(`${id}.eml`)) throw new Error('its message body is missing');
        items.push(item);
      } catch (err) {
        // Never crash on one bad file, never delete it: keep it for the operator and go on with the others.
        this.#logger.error({ event: 'queue-corrupt', file: name, err }, `moving unreadable queue file aside to ${name}${CORRUPT_SUFFIX}`);
        await rename(path, `${path}${CORRUPT_SUFFIX}`);
        changed = true;
      }
    }
    if (changed) await fsyncDir(this.dir);
    return items.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }
}

/** Reads every committed item without changing anything (for `queue list` while the server is down). */
export async function readQueueDir(dir: string): Promise<{ items: QueueItem[]; problems: string[] }> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return { items: [], problems: [] };
    throw err;
  }
  const items: QueueItem[] = [];
  const problems: string[] = [];
  for (const name of names.sort()) {
    if (!/^[A-Za-z0-9]+\.json$/.test(name)) continue;
    try {
      items.push(parseQueueItem(await readFile(join(dir, name), 'utf8')));
    } catch (err) {
      if (errorCode(err) === 'ENOENT') continue; // finished meanwhile
      problems.push(`${name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return { items, problems };
}

/** Removes <id>.json then <id>.eml and flushes the directory; false if the item did not exist. */
export async function removeItemFiles(dir: string, id: string, syncDir: (dir: string) => Promise<void> = fsyncDir): Promise<boolean> {
  const base = join(dir, checkedId(id));
  const existed = await unlinkIfPresent(`${base}.json`);
  await unlinkIfPresent(`${base}.eml`);
  await syncDir(dir);
  return existed;
}

async function readHeaderSection(path: string, maxBytes: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buf = Buffer.alloc(maxBytes);
    let length = 0;
    while (length < maxBytes) {
      const { bytesRead } = await handle.read(buf, length, Math.min(16 * 1024, maxBytes - length), length);
      if (bytesRead === 0) break;
      const searchFrom = Math.max(0, length - 1);
      length += bytesRead;
      const end = buf.subarray(0, length).indexOf('\n\n', searchFrom);
      if (end >= 0) return Buffer.from(buf.subarray(0, end + 1));
    }
    // No empty line within the cap (or a message with no body): keep whole lines only.
    const lastLf = buf.subarray(0, length).lastIndexOf('\n');
    return Buffer.from(buf.subarray(0, length === maxBytes && lastLf >= 0 ? lastLf + 1 : length));
  } finally {
    await handle.close();
  }
}

class FileBodyWriter implements BodyWriter {
  readonly id: string;
  readonly #tmp: string;
  readonly #final: string;
  #handle: QuickFile | null;
  #buffer = Buffer.allocUnsafe(BUFFER_SIZE);
  #used = 0;
  #size = 0;
  #place: 'tmp' | 'final' | 'gone' = 'tmp';
  /** Every call runs after the previous one, so discard() never races a write. */
  readonly #ops = new Serial();

  constructor(id: string, handle: QuickFile, tmp: string, final: string) {
    this.id = id;
    this.#handle = handle;
    this.#tmp = tmp;
    this.#final = final;
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
    const handle = this.#open();
    this.#size += chunk.length;
    // Small chunks (a line each) are gathered so that a small message costs one write(2).
    if (this.#used + chunk.length <= BUFFER_SIZE) {
      chunk.copy(this.#buffer, this.#used);
      this.#used += chunk.length;
      return;
    }
    await this.#flush(handle);
    if (chunk.length >= BUFFER_SIZE) await writeAll(handle, chunk);
    else {
      chunk.copy(this.#buffer, 0);
      this.#used = chunk.length;
    }
  }

  async #flush(handle: QuickFile): Promise<void> {
    if (this.#used === 0) return;
    await writeAll(handle, this.#buffer.subarray(0, this.#used));
    this.#used = 0;
  }

  async #finish(): Promise<number> {
    const handle = this.#open();
    await this.#flush(handle);
    await handle.datasync();
    await handle.close();
    this.#handle = null;
    renameSync(this.#tmp, this.#final); // see fs/quick-file.ts: cheap steps stay on the event loop
    this.#place = 'final';
    return this.#size;
  }

  async #discard(): Promise<void> {
    if (this.#handle !== null) {
      const handle = this.#handle;
      this.#handle = null;
      await handle.close().catch(() => undefined);
    }
    if (this.#place === 'tmp') await unlinkIfPresent(this.#tmp);
    if (this.#place === 'final') await unlinkIfPresent(this.#final);
    this.#place = 'gone';
  }

  #open(): QuickFile {
    if (this.#handle === null || this.#place !== 'tmp') throw new Error(`queue body ${this.id} is already closed`);
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

async function unlinkIfPresent(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return false;
    throw err;
  }
}

function checkedId(id: string): string {
  // Defence in depth: an id is a file name, so nothing but [A-Za-z0-9] ever gets this far.
  if (!isValidQueueId(id)) throw new Error(`invalid queue id ${JSON.stringify(id)}`);
  return id;
}

export const errorCode = (err: unknown): string | undefined =>
  typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
