// One file made durable without ever replacing another: written into a tmp file, flushed (fdatasync), given its
// final name with link(2), which fails if the name is taken (then the next name is tried), and its folder flushed.
import { createReadStream, linkSync, renameSync, unlink, unlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fsyncDirectory, type SyncDirectory } from './directory.js';
import { errorCode } from './error-code.js';
import { createQuickFile, type QuickFile } from './quick-file.js';
import { Serial } from './serial.js';

/** Every tmp file made beside its final name ends with this, so that a restart can find and remove leftovers. */
export const TMP_SUFFIX = '.tmp';

/** Where a file goes, and under which name. */
export interface DurablePlace {
  /** The folder of the final name (a Maildir's new/, the queue folder). */
  readonly dir: string;
  /** A fresh name in `dir`: the first one is tried first, the next ones after a clash (EEXIST). */
  readonly nextName: () => string;
  /** A folder for the tmp file under the file's own name (a Maildir's tmp/); by default `dir`, with a random tmp name. */
  readonly tmpDir?: string;
  /** Bytes at the start of the file that depend on its name (the queue's envelope line holds the queue id). */
  readonly head?: (name: string) => Buffer;
  /** rename(2) over an existing file instead of refusing it: only for a state file that is meant to be replaced. */
  readonly replace?: boolean;
}

export interface DurableFileOptions {
  /** fsync of a folder, resolved only by an fsync that started after the call (GroupFsync.sync shares them). */
  readonly syncDir: (dir: string) => Promise<void>;
  /** Bytes gathered before a write(2): a file that fits costs one write, and can be kept in memory (inMemory()). */
  readonly bufferSize?: number;
  /** Creates the tmp file; O_CREAT|O_EXCL, mode 0600 by default. Tests pass one that fails on purpose. */
  readonly createFile?: (path: string) => Promise<QuickFile>;
}

/** The file once in place: its name, and the bytes after its head (prefix included). */
export interface Committed {
  readonly name: string;
  readonly path: string;
  readonly size: number;
}

const DEFAULT_BUFFER = 64 * 1024;
/**
 * The buffer starts this small and doubles up to its size as the file grows: a new 64 KiB per message was V8
 * "external" memory enough to make the server's old generation look full and start a full mark-compact every
 * 100-200 ms under load (measured: 8-27 of them in a 4,000-message bench cell, 1-5 since, and their CPU).
 */
const FIRST_BUFFER = 16 * 1024;
/** Names tried before giving up: a clash is a stale file or a clock set back, never a normal event. */
const NAME_ATTEMPTS = 8;
const EMPTY = Buffer.alloc(0);

/** open: taking writes; prepared: flushed, unnamed; placed: named, folder not yet flushed; committed; closed: aborted. */
type State = 'open' | 'prepared' | 'placed' | 'committed' | 'closed';

/**
 * write* then commit (or abort). The tmp file is created in the background while the first writes are gathered (the
 * SMTP client is told 354 meanwhile). An I/O error, the creation's included, is never thrown by write(): it is kept
 * and thrown by commit(), so that the caller reads its input to the end first. commit({ prefix }) puts bytes before
 * everything written (after the head): free while the file is still in the buffer, a second tmp file otherwise.
 * A failed commit removes the tmp file; a file already in place stays there (see `path`).
 */
export class DurableFile {
  readonly #place: DurablePlace;
  /** The final folder: the place's, unless place() was given another. */
  #dir: string;
  readonly #syncDir: (dir: string) => Promise<void>;
  readonly #createFile: (path: string) => Promise<QuickFile>;
  #name: string;
  #head: Buffer;
  /** The tmp file once created; null before, after it is gone, or if it could not be made. */
  #tmp: string | null = null;
  #handle: QuickFile | null = null;
  /** Settles once the tmp file exists; its failure is kept in #failure, never unhandled. */
  readonly #created: Promise<void>;
  #buffer: Buffer;
  /** What #buffer may grow to before the file is written in steps. */
  readonly #bufferSize: number;
  #used: number;
  /** Bytes already in the file, its head included: 0 while everything is in the buffer. */
  #written = 0;
  #size = 0;
  /** The whole file when it never left the buffer, for inMemory(). */
  #whole: Buffer | null = null;
  #failure: { readonly error: unknown } | null = null;
  #state: State = 'open';
  #path: string | null = null;
  /** Every step after the previous one, so that abort() never races a write. */
  readonly #ops = new Serial();
  /** The tmp name's removal once the file is placed: it runs in the thread pool beside the folder's fsync. */
  #unlinking: Promise<void> = Promise.resolve();

  constructor(place: DurablePlace, opts: DurableFileOptions) {
    this.#place = place;
    this.#dir = place.dir;
    this.#syncDir = opts.syncDir;
    this.#createFile = opts.createFile ?? createQuickFile;
    this.#name = place.nextName();
    this.#head = place.head?.(this.#name) ?? EMPTY;
    this.#bufferSize = opts.bufferSize ?? DEFAULT_BUFFER;
    this.#buffer = Buffer.allocUnsafe(Math.max(Math.min(FIRST_BUFFER, this.#bufferSize), this.#head.length));
    this.#used = this.#head.copy(this.#buffer, 0);
    this.#created = this.#create().catch((error: unknown) => {
      this.#failure ??= { error };
    });
  }

  /** The name the file has, or will be given first. */
  get name(): string {
    return this.#name;
  }

  /** Bytes written after the head (the prefix included once committed). */
  get size(): number {
    return this.#size;
  }

  /** The final path once the file was given its name, even if the commit failed after that; else null. */
  get path(): string | null {
    return this.#path;
  }

  /** Appends; never throws an I/O error (commit() does). Throws only when the file is already committed or aborted. */
  write(chunk: Buffer): Promise<void> {
    return this.#ops.run(() => this.#append(chunk));
  }

  /**
   * prepare, place and sync: resolves once the file and its name are on disk. `dir` gives the file another final
   * folder than its place's (a Maildir++ subfolder chosen once the message is complete), on the same file system.
   */
  async commit(opts: { prefix?: Buffer; dir?: string } = {}): Promise<Committed> {
    await this.prepare(opts);
    await this.place(opts);
    await this.sync();
    return { name: this.#name, path: this.#path as string, size: this.#size };
  }

  /** Step 1 of commit: the data flushed to disk (the error of any earlier step thrown); the tmp file is closed. */
  prepare(opts: { prefix?: Buffer } = {}): Promise<void> {
    return this.#step('open', async () => {
      if (this.#failure !== null) throw this.#failure.error;
      const handle = await this.#open();
      const prefix = opts.prefix ?? EMPTY;
      if (this.#written === 0) {
        // Still all in memory: the prefix goes in front of the buffer, which is written whole.
        const body = this.#buffer.subarray(this.#head.length, this.#used);
        this.#whole = prefix.length === 0 ? this.#buffer.subarray(0, this.#used) : Buffer.concat([this.#head, prefix, body]);
        await writeAll(handle, this.#whole);
        this.#written = this.#whole.length;
        this.#used = 0;
      } else {
        await this.#flush(handle);
        if (prefix.length > 0) await this.#rewrite(this.#head, prefix);
      }
      this.#size += prefix.length;
      await this.#closeHandle(true);
      this.#state = 'prepared';
    });
  }

  /**
   * Step 2: the final name. link(2) never replaces a file: a name already taken (EEXIST) means the next name, and the
   * head written for the old name is rewritten for the new one. Resolves with the name given.
   */
  place(opts: { dir?: string } = {}): Promise<string> {
    return this.#step('prepared', async () => {
      if (opts.dir !== undefined) this.#dir = opts.dir;
      for (let attempt = 1; ; attempt++) {
        const target = join(this.#dir, this.#name);
        try {
          if (this.#place.replace === true) renameSync(this.#tmp as string, target);
          else linkSync(this.#tmp as string, target); // a metadata change in the page cache: see quick-file.ts
        } catch (err) {
          if (errorCode(err) !== 'EEXIST' || attempt >= NAME_ATTEMPTS) throw err;
          await this.#rename(this.#place.nextName());
          continue;
        }
        this.#path = target;
        this.#state = 'placed';
        // Off the event loop: unlink(2) in tmp/ shares that folder's lock with the file creations there, which a busy
        // file system can make slow.
        if (this.#place.replace !== true) this.#unlinking = unlinkTmpLater(this.#tmp as string);
        this.#tmp = null;
        return this.#name;
      }
    });
  }

  /** Step 3: the folder flushed, so that the name survives a crash. A failure leaves the file in place (see `path`). */
  sync(): Promise<void> {
    return this.#ops.run(async () => {
      this.#expect('placed');
      await this.#syncDir(this.#dir);
      await this.#unlinking; // settled long before the fsync in practice; awaited so that nothing outlives commit()
      this.#state = 'committed';
      this.#buffer = EMPTY;
    });
  }

  /** Removes the tmp file; a file already given its name stays. Safe at any time, any number of times. */
  abort(): Promise<void> {
    return this.#ops.run(() => this.#discard());
  }

  /** After commit: the bytes after the head when the file never left the buffer (a copy), else null. */
  inMemory(): Buffer | null {
    return this.#state === 'committed' && this.#whole !== null ? Buffer.from(this.#whole.subarray(this.#head.length)) : null;
  }

  /** One commit step, after the previous operations, from state `from`; its failure removes the tmp file. */
  #step<T>(from: State, op: () => Promise<T>): Promise<T> {
    return this.#ops.run(async () => {
      this.#expect(from);
      try {
        return await op();
      } catch (err) {
        await this.#discard();
        throw err;
      }
    });
  }

  async #create(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const tmp = this.#place.tmpDir !== undefined ? join(this.#place.tmpDir, this.#name) : randomTmpPath(join(this.#place.dir, this.#name));
      try {
        this.#handle = await this.#createFile(tmp);
        this.#tmp = tmp;
        return;
      } catch (err) {
        if (errorCode(err) !== 'EEXIST' || attempt >= NAME_ATTEMPTS) throw err;
        // A tmp name in use is a file left by an earlier process (with our pid): a Maildir takes the next name.
        if (this.#place.tmpDir !== undefined) this.#setName(this.#place.nextName());
      }
    }
  }

  /** A new name before anything reached the file: the head in the buffer follows it. */
  #setName(name: string): void {
    const head = this.#place.head?.(name) ?? EMPTY;
    const rest = Buffer.from(this.#buffer.subarray(this.#head.length, this.#used));
    if (head.length + rest.length > this.#buffer.length) this.#buffer = Buffer.allocUnsafe(head.length + rest.length);
    this.#used = head.copy(this.#buffer, 0) + rest.copy(this.#buffer, head.length);
    this.#name = name;
    this.#head = head;
  }

  /** A new name after a clash at placement: when the head depends on the name, the file is rewritten with the new head. */
  async #rename(name: string): Promise<void> {
    const head = this.#place.head?.(name) ?? EMPTY;
    this.#name = name;
    if (head.equals(this.#head)) return;
    await this.#rewrite(head, EMPTY);
    await this.#closeHandle(true);
  }

  async #append(chunk: Buffer): Promise<void> {
    this.#expect('open');
    if (this.#failure !== null) return;
    this.#size += chunk.length;
    try {
      // Chunks are copied, never kept: the caller may reuse its buffer once write() resolves.
      const needed = this.#used + chunk.length;
      if (needed > this.#buffer.length && needed <= this.#bufferSize) this.#grow(needed);
      if (needed <= this.#buffer.length) {
        this.#used += chunk.copy(this.#buffer, this.#used);
        return;
      }
      const handle = await this.#open();
      await this.#flush(handle);
      // A file larger than the buffer can be: written in steps of its whole size from now on.
      if (this.#buffer.length < this.#bufferSize) this.#buffer = Buffer.allocUnsafe(this.#bufferSize);
      if (chunk.length >= this.#buffer.length) {
        await writeAll(handle, chunk);
        this.#written += chunk.length;
      } else this.#used = chunk.copy(this.#buffer, 0);
    } catch (error) {
      this.#failure = { error };
    }
  }

  /** A buffer twice as large (or more, up to #bufferSize) holding what this one held. */
  #grow(needed: number): void {
    let size = this.#buffer.length;
    while (size < needed) size *= 2;
    const larger = Buffer.allocUnsafe(Math.min(size, this.#bufferSize));
    this.#buffer.copy(larger, 0, 0, this.#used);
    this.#buffer = larger;
  }

  async #flush(handle: QuickFile): Promise<void> {
    if (this.#used === 0) return;
    await writeAll(handle, this.#buffer.subarray(0, this.#used));
    this.#written += this.#used;
    this.#used = 0;
  }

  /**
   * A second tmp file: `head`, `prefix`, then what the first one holds after its own head, read back in chunks; the first
   * one is then removed. Costs a copy of the file, so only a prefix given late or a name clash come here.
   */
  async #rewrite(head: Buffer, prefix: Buffer): Promise<void> {
    const old = this.#tmp as string;
    const skip = this.#head.length;
    await this.#closeHandle(false);
    const tmp = randomTmpPath(old);
    const handle = await this.#createFile(tmp);
    this.#handle = handle;
    this.#tmp = tmp;
    await writeAll(handle, Buffer.concat([head, prefix]));
    let written = head.length + prefix.length;
    for await (const chunk of createReadStream(old, { start: skip, highWaterMark: DEFAULT_BUFFER }) as AsyncIterable<Buffer>) {
      await writeAll(handle, chunk);
      written += chunk.length;
    }
    unlinkTmp(old);
    this.#head = head;
    this.#written = written;
    this.#whole = null;
  }

  /** The tmp file, once created; throws the creation's error. */
  async #open(): Promise<QuickFile> {
    await this.#created;
    if (this.#failure !== null) throw this.#failure.error;
    if (this.#handle === null) throw new Error(`${this.#name}: file already closed`);
    return this.#handle;
  }

  async #closeHandle(flush: boolean): Promise<void> {
    const handle = this.#handle;
    this.#handle = null;
    if (handle === null) return;
    if (flush) await handle.datasync();
    await handle.close();
  }

  /** Never throws: closes what is open and unlinks the tmp file; a file already in place is left. */
  async #discard(): Promise<void> {
    if (this.#state === 'committed' || this.#state === 'closed') return;
    if (this.#state !== 'placed') this.#state = 'closed';
    await this.#created;
    await this.#closeHandle(false).catch(() => undefined);
    if (this.#tmp !== null) unlinkTmp(this.#tmp);
    this.#tmp = null;
  }

  #expect(state: State): void {
    if (this.#state !== state) throw new Error(`${this.#name}: file already ${this.#state} (expected ${state})`);
  }
}

/**
 * Replaces `path` with `data` so that a crash leaves either the old content or the new one, never a mix (a state
 * file, a generated certificate): the one use of `replace`.
 */
export async function replaceFileDurably(path: string, data: string | Buffer, opts: { mode?: number; syncDir?: SyncDirectory } = {}): Promise<void> {
  const name = basename(path);
  const file = new DurableFile(
    { dir: dirname(path), nextName: () => name, replace: true },
    { syncDir: opts.syncDir ?? fsyncDirectory, createFile: (tmp) => createQuickFile(tmp, opts.mode) },
  );
  await file.write(typeof data === 'string' ? Buffer.from(data) : data);
  await file.commit();
}

/** A fresh tmp name beside `path`: unpredictability is not needed (O_EXCL in a private folder), so no CSPRNG call. */
function randomTmpPath(path: string): string {
  return `${path}.${Math.floor(Math.random() * 2 ** 48).toString(16).padStart(12, '0')}${TMP_SUFFIX}`;
}

/** Removes a tmp file; a leftover is harmless (recovery and Maildir readers remove old tmp files), so a failure is not one. */
function unlinkTmp(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone, or left for the cleanup
  }
}

/** unlinkTmp in the thread pool; never rejects. */
function unlinkTmpLater(path: string): Promise<void> {
  return new Promise((resolve) => unlink(path, () => resolve()));
}

async function writeAll(handle: QuickFile, data: Buffer): Promise<void> {
  for (let offset = 0; offset < data.length; ) {
    const { bytesWritten } = await handle.write(data, offset, data.length - offset);
    offset += bytesWritten;
  }
}
