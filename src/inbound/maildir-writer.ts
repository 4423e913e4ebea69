// Maildir delivery of one message into several mailboxes: write in tmp/, fsync, rename(2) into new/, fsync new/.
import { renameSync } from 'node:fs';
import { mkdir, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { errorCode } from '../fs/error-code.js';
import { GroupFsync } from '../fs/group-fsync.js';
import { isValidMailboxName } from './mailboxes.js';
import type { MaildirNamer } from './maildir-name.js';
import { Serial } from '../fs/serial.js';
import { createQuickFile, type QuickFile } from '../fs/quick-file.js';

/** One durable copy in <mailbox>/new/<name>. */
export interface DeliveredCopy {
  readonly mailbox: string;
  readonly name: string;
  readonly size: number;
}

/** A message being written; every method is serialised, and abort() is safe at any time, any number of times. */
export interface MaildirMessage {
  /** Appends to every copy. An I/O failure is remembered (not thrown) and reported by commit(). */
  write(chunk: Buffer): Promise<void>;
  /** Resolves once every copy is in new/ and flushed (file and directory); on failure nothing is left in tmp/. */
  commit(): Promise<readonly DeliveredCopy[]>;
  /** Removes every copy not yet delivered; a no-op after a successful commit. */
  abort(): Promise<void>;
}

export interface MaildirWriterOptions {
  /** <data_dir>/<maildir_root>, absolute. */
  readonly root: string;
  /** The process-wide namer (its counter is shared by every session). */
  readonly namer: MaildirNamer;
  /** Directory fsync with group commit; a private one by default. */
  readonly dirSync?: GroupFsync;
  /** Bytes gathered before a write(2); a small message is written with a single call. */
  readonly bufferSize?: number;
  /** Creates a file in tmp/; tests pass one that fails on purpose. Default: createQuickFile (O_CREAT|O_EXCL, mode 0600). */
  readonly createFile?: (path: string) => Promise<CopyHandle>;
}

/** What the writer needs of an open file (tests give one that fails on purpose). */
export type CopyHandle = QuickFile;


const DEFAULT_BUFFER = 64 * 1024;
// A name already taken in tmp/ means a stale file from an earlier process with the same pid: take the next name.
const NAME_ATTEMPTS = 4;

interface CopyFile {
  readonly mailbox: string;
  readonly name: string;
  readonly tmpPath: string;
  readonly newPath: string;
  readonly newDir: string;
  handle: CopyHandle | null;
  /** Where the file is: still in tmp/, moved into new/, or removed. */
  place: 'tmp' | 'new' | 'gone';
}

export class MaildirWriter {
  readonly #root: string;
  readonly #namer: MaildirNamer;
  readonly #dirSync: GroupFsync;
  readonly #bufferSize: number;
  readonly #createFile: (path: string) => Promise<CopyHandle>;
  /** Mailboxes whose tmp/, new/ and cur/ exist, created on first use; dropped after any failure to re-check. */
  readonly #ready = new Map<string, Promise<void>>();
  #closed = false;

  constructor(opts: MaildirWriterOptions) {
    this.#root = opts.root;
    this.#namer = opts.namer;
    this.#dirSync = opts.dirSync ?? new GroupFsync();
    this.#bufferSize = opts.bufferSize ?? DEFAULT_BUFFER;
    this.#createFile = opts.createFile ?? createQuickFile;
  }

  /**
   * Starts a message for these mailboxes (distinct, validated names) with `header` first. Throws if a mailbox's
   * directories cannot be made. The files in tmp/ are created in the background while the caller goes on (the
   * client is told 354 and sends the text meanwhile): creating an inode takes 0.1 to 0.5 ms of the kernel's time,
   * which no longer adds to every message's latency. A failure to create them is reported by commit().
   */
  async open(mailboxes: readonly string[], header: Buffer): Promise<MaildirMessage> {
    if (this.#closed) throw new Error('MaildirWriter is closed');
    if (mailboxes.length === 0) throw new Error('MaildirWriter.open: no mailbox');
    if (new Set(mailboxes).size !== mailboxes.length) throw new Error('MaildirWriter.open: duplicate mailbox');
    // Defence in depth: only config-validated names may become paths.
    const bad = mailboxes.find((m) => !isValidMailboxName(m));
    if (bad !== undefined) throw new Error(`MaildirWriter.open: invalid mailbox name ${JSON.stringify(bad)}`);
    try {
      await Promise.all(mailboxes.map((m) => this.#ensureDirs(m)));
    } catch (err) {
      this.#forget(mailboxes);
      throw err;
    }
    const message = new PendingMessage(this.#createCopies(mailboxes), this.#dirSync, this.#bufferSize, () => this.#forget(mailboxes));
    await message.write(header);
    return message;
  }

  /** One file in tmp/ per mailbox; if any cannot be made, the others are removed and the first error thrown. */
  async #createCopies(mailboxes: readonly string[]): Promise<CopyFile[]> {
    const opened = await Promise.allSettled(mailboxes.map((m) => this.#createCopy(m)));
    const files = opened.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failure = opened.find((r) => r.status === 'rejected');
    if (failure === undefined) return files;
    await Promise.allSettled(files.map((f) => discardFile(f)));
    throw failure.reason;
  }

  /** Refuses new messages and waits for directory fsyncs in flight. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#dirSync.drain();
  }

  async #createCopy(mailbox: string): Promise<CopyFile> {
    const dir = join(this.#root, mailbox);
    for (let attempt = 1; ; attempt++) {
      const name = this.#namer.next();
      const tmpPath = join(dir, 'tmp', name);
      try {
        const handle = await this.#createFile(tmpPath);
        return { mailbox, name, tmpPath, newPath: join(dir, 'new', name), newDir: join(dir, 'new'), handle, place: 'tmp' };
      } catch (err) {
        if (errorCode(err) !== 'EEXIST' || attempt >= NAME_ATTEMPTS) throw err;
      }
    }
  }

  #ensureDirs(mailbox: string): Promise<void> {
    let ready = this.#ready.get(mailbox);
    if (ready === undefined) {
      ready = this.#createDirs(join(this.#root, mailbox));
      this.#ready.set(mailbox, ready);
      const mine = ready;
      ready.catch(() => {
        if (this.#ready.get(mailbox) === mine) this.#ready.delete(mailbox);
      });
    }
    return ready;
  }

  async #createDirs(dir: string): Promise<void> {
    // mkdir returns the first directory it created (undefined if the mailbox directory existed).
    const firstCreated = await mkdir(dir, { recursive: true, mode: 0o700 });
    let created = firstCreated !== undefined;
    for (const sub of ['tmp', 'new', 'cur']) {
      try {
        await mkdir(join(dir, sub), { mode: 0o700 });
        created = true;
      } catch (err) {
        if (errorCode(err) !== 'EEXIST') throw err;
      }
    }
    if (!created) return;
    // New directories are durable only once their parents are flushed: the mailbox directory
    // (tmp, new, cur), then every parent of a directory mkdir created on the way down.
    const toSync = [dir];
    if (firstCreated !== undefined) {
      const top = dirname(firstCreated);
      for (let d = dir; d !== top && dirname(d) !== d; d = dirname(d)) toSync.push(dirname(d));
    }
    await Promise.all(toSync.map((d) => this.#dirSync.sync(d)));
  }

  #forget(mailboxes: readonly string[]): void {
    for (const m of mailboxes) this.#ready.delete(m);
  }
}

class PendingMessage implements MaildirMessage {
  /** The files in tmp/, being created; rejected if one could not be (already handled: reported by commit). */
  readonly #created: Promise<readonly CopyFile[]>;
  /** The files once created (empty before, or if their creation failed). */
  #files: readonly CopyFile[] = [];
  readonly #dirSync: GroupFsync;
  readonly #onFailure: () => void;
  #buffer: Buffer | null;
  #used = 0;
  #size = 0;
  /** The first write error, reported at commit: the core reads DATA to its end before it commits. */
  #failure: { readonly error: unknown } | null = null;
  #state: 'open' | 'committed' | 'closed' = 'open';
  #copies: readonly DeliveredCopy[] = [];
  /** Every operation runs after the previous one, so abort() never races a write or a commit. */
  readonly #ops = new Serial();

  constructor(created: Promise<readonly CopyFile[]>, dirSync: GroupFsync, bufferSize: number, onFailure: () => void) {
    this.#created = created.then((files) => (this.#files = files));
    this.#created.catch(() => undefined); // awaited later; never an unhandled rejection meanwhile
    this.#dirSync = dirSync;
    this.#onFailure = onFailure;
    this.#buffer = Buffer.allocUnsafe(bufferSize);
  }

  write(chunk: Buffer): Promise<void> {
    return this.#ops.run(() => this.#append(chunk));
  }

  commit(): Promise<readonly DeliveredCopy[]> {
    return this.#ops.run(() => this.#commit());
  }

  abort(): Promise<void> {
    return this.#ops.run(() => this.#discard());
  }

  async #append(chunk: Buffer): Promise<void> {
    if (this.#state !== 'open') throw new Error(`write on a message already ${this.#state}`);
    const buffer = this.#buffer;
    if (this.#failure !== null || buffer === null) return;
    this.#size += chunk.length;
    try {
      // Chunks are copied, never kept: the caller may reuse its buffer once write() resolves.
      if (this.#used + chunk.length <= buffer.length) {
        this.#used += chunk.copy(buffer, this.#used);
        return;
      }
      await this.#flush();
      if (chunk.length >= buffer.length) await this.#writeAll(chunk);
      else this.#used = chunk.copy(buffer, 0);
    } catch (error) {
      this.#failure = { error };
    }
  }

  async #flush(): Promise<void> {
    if (this.#buffer === null || this.#used === 0) return;
    const data = this.#buffer.subarray(0, this.#used);
    await this.#writeAll(data);
    this.#used = 0;
  }

  /** The same bytes to every copy, in parallel; waits for all of them (backpressure) before reporting a failure. */
  async #writeAll(data: Buffer): Promise<void> {
    await this.#created;
    await settleAll(
      this.#files.map(async (f) => {
        for (let offset = 0; offset < data.length; ) {
          if (f.handle === null) throw new Error('file already closed');
          const { bytesWritten } = await f.handle.write(data, offset, data.length - offset);
          offset += bytesWritten;
        }
      }),
    );
  }

  async #commit(): Promise<readonly DeliveredCopy[]> {
    if (this.#state === 'committed') return this.#copies;
    if (this.#state === 'closed') throw new Error('commit of an aborted message');
    try {
      await this.#created;
      if (this.#failure !== null) throw this.#failure.error;
      await this.#flush();
      // All file fsyncs first, then all renames, then the directory fsyncs: the window in which some
      // copies are in new/ and others are not is as short as it can be.
      await settleAll(this.#files.map((f) => f.handle?.datasync()));
      await settleAll(this.#files.map((f) => closeFile(f)));
    } catch (err) {
      await this.#fail();
      throw err;
    }
    const renames = await Promise.allSettled(
      this.#files.map(async (f) => {
        renameSync(f.tmpPath, f.newPath); // a metadata change in the page cache: see quick-file.ts
        f.place = 'new';
      }),
    );
    const renameFailure = renames.find((r) => r.status === 'rejected');
    if (renameFailure !== undefined) {
      // Copies already renamed stay in new/: they are complete and flushed, and a reader may already have
      // taken them. The caller answers 451, the sender retries, and those mailboxes get a duplicate —
      // better than a loss if the sender never retries, and the only other choice once a copy is public.
      await this.#fail();
      throw renameFailure.reason;
    }
    const dirs = [...new Set(this.#files.map((f) => f.newDir))];
    try {
      await settleAll(dirs.map((d) => this.#dirSync.sync(d)));
    } catch (err) {
      // Same reasoning: the renamed files may or may not survive a crash; 451 makes the sender retry.
      await this.#fail();
      throw err;
    }
    this.#state = 'committed';
    this.#buffer = null;
    this.#copies = this.#files.map((f) => ({ mailbox: f.mailbox, name: f.name, size: this.#size }));
    return this.#copies;
  }

  async #fail(): Promise<void> {
    this.#onFailure();
    await this.#discard();
  }

  /** Never throws: closes what is open and unlinks what is still in tmp/. */
  async #discard(): Promise<void> {
    if (this.#state !== 'open') return;
    this.#state = 'closed';
    this.#buffer = null;
    await this.#created.catch(() => undefined); // a failed creation removed what it had made
    await Promise.allSettled(this.#files.map((f) => discardFile(f)));
  }
}

async function closeFile(f: CopyFile): Promise<void> {
  const handle = f.handle;
  f.handle = null;
  if (handle !== null) await handle.close();
}

/** Closes and unlinks a copy still in tmp/. An unlink that fails leaves a file that Maildir readers clean after 36 hours. */
async function discardFile(f: CopyFile): Promise<void> {
  await closeFile(f).catch(() => undefined);
  if (f.place !== 'tmp') return;
  await unlink(f.tmpPath).catch(() => undefined);
  f.place = 'gone';
}

/** Like Promise.all, but waits for every promise before throwing the first error (no operation left running). */
async function settleAll(promises: readonly (Promise<unknown> | undefined)[]): Promise<void> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r) => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
}
