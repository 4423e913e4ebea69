// Maildir delivery of one message into several mailboxes: one durable file per mailbox, from tmp/ into new/.
import { chmod, chown, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeDurableDir } from '../fs/directory.js';
import { DurableFile } from '../fs/durable-file.js';
import { errorCode } from '../fs/error-code.js';
import { GroupFsync } from '../fs/group-fsync.js';
import { createQuickFile, type QuickFile } from '../fs/quick-file.js';
import { Serial } from '../fs/serial.js';
import { isMailboxName } from '../mail/local-users.js';
import type { MaildirNamer } from './maildir-name.js';

/** One durable copy in <mailbox>/new/<name> (or <mailbox>/.<folder>/new/<name>). */
export interface DeliveredCopy {
  readonly mailbox: string;
  /** The Maildir++ subfolder, or null for the inbox. */
  readonly folder: string | null;
  readonly name: string;
  readonly size: number;
}

/** A message being written; every method is serialised, and abort() is safe at any time, any number of times. */
export interface MaildirMessage {
  /** Appends to every copy. An I/O failure is remembered (not thrown) and reported by commit(). */
  write(chunk: Buffer): Promise<void>;
  /**
   * Resolves once every copy is in new/ and flushed (file and directory); on failure nothing is left in tmp/.
   * `prefix` goes after the Return-Path header, before everything written; `folder` ("Junk") delivers into the
   * mailbox's Maildir++ subfolder (.Junk/new/), made on first use.
   */
  commit(opts?: { prefix?: Buffer; folder?: string }): Promise<readonly DeliveredCopy[]>;
  /** Removes every copy not yet delivered; a no-op after a successful commit. */
  abort(): Promise<void>;
}

export interface MaildirWriterOptions {
  /** <data_dir>/<maildir_root>, absolute. */
  readonly root: string;
  /** The process-wide namer (its counter is shared by every session). */
  readonly namer: Pick<MaildirNamer, 'next'>;
  /** Directory fsync with group commit; a private one by default. */
  readonly dirSync?: GroupFsync;
  /** Bytes gathered before a write(2); a small message is written with a single call. */
  readonly bufferSize?: number;
  /** Creates a file in tmp/; tests pass one that fails on purpose. Default: O_CREAT|O_EXCL, mode 0600. */
  readonly createFile?: (path: string) => Promise<CopyHandle>;
  /**
   * inbound.maildir_group's gid: folders get it with mode 2750 (setgid, so that files made inside inherit the group
   * without a chown each) and files mode 0640, for a Dovecot running as another user in that group. Without it
   * folders are 0700 and files 0600.
   */
  readonly group?: number;
  /** With `group`: the group may write too (folders 2770, files 0660), as a Dovecot that changes flags must. */
  readonly groupWrite?: boolean;
}

/** Folder and file modes with a Maildir group: read only, or read and write. */
export const groupModes = (write: boolean): { readonly dir: number; readonly file: number } => (write ? { dir: 0o2770, file: 0o660 } : { dir: 0o2750, file: 0o640 });

/** What the writer needs of an open file (tests give one that fails on purpose). */
export type CopyHandle = QuickFile;

export class MaildirWriter {
  readonly #opts: MaildirWriterOptions;
  readonly #dirSync: GroupFsync;
  /** Mailboxes whose tmp/, new/ and cur/ exist, created on first use; dropped after any failure to re-check. */
  readonly #ready = new Map<string, Promise<void>>();
  #closed = false;

  constructor(opts: MaildirWriterOptions) {
    const { group } = opts;
    const modes = groupModes(opts.groupWrite === true);
    this.#opts = group === undefined || opts.createFile !== undefined ? opts : { ...opts, createFile: (path) => createQuickFile(path, modes.file) };
    this.#dirSync = opts.dirSync ?? new GroupFsync();
  }

  /**
   * Starts a message for these mailboxes (distinct, validated names) with `header` first. Throws if a mailbox's
   * directories cannot be made. The files in tmp/ are created in the background while the caller goes on (the
   * client is told 354 and sends the text meanwhile); a failure to create them is reported by commit().
   */
  async open(mailboxes: readonly string[], header: Buffer): Promise<MaildirMessage> {
    if (this.#closed) throw new Error('MaildirWriter is closed');
    if (mailboxes.length === 0) throw new Error('MaildirWriter.open: no mailbox');
    if (new Set(mailboxes).size !== mailboxes.length) throw new Error('MaildirWriter.open: duplicate mailbox');
    // Defence in depth: only config-validated names may become paths.
    const bad = mailboxes.find((m) => !isMailboxName(m));
    if (bad !== undefined) throw new Error(`MaildirWriter.open: invalid mailbox name ${JSON.stringify(bad)}`);
    // Settled, not Promise.all: a failure must not leave the other mailboxes' folders still being made after the
    // rejection (a caller, or a test's clean-up, removing them then races with it).
    const made = await Promise.allSettled(mailboxes.map((m) => this.#ensureDirs(m)));
    const failed = made.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) {
      this.#forget(mailboxes);
      throw failed.reason;
    }
    const { namer, bufferSize, createFile } = this.#opts;
    const syncDir = (dir: string): Promise<void> => this.#dirSync.sync(dir);
    const copies = mailboxes.map((mailbox) => {
      const dir = join(this.#opts.root, mailbox);
      // The same name in tmp/ and new/; a name taken in either means the next one (the namer's counter moves on).
      // Return-Path is the file's head: headers known only at the end of DATA go after it (RFC 5321 §4.4).
      const place = { dir: join(dir, 'new'), tmpDir: join(dir, 'tmp'), nextName: () => namer.next(), head: () => header };
      return { mailbox, headLength: header.length, file: new DurableFile(place, { syncDir, ...(bufferSize === undefined ? {} : { bufferSize }), ...(createFile === undefined ? {} : { createFile }) }) };
    });
    return new PendingMessage(copies, () => this.#forget(mailboxes), (mailbox, folder) => this.#subfolder(mailbox, folder));
  }

  /** Refuses new messages and waits for directory fsyncs in flight. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#dirSync.drain();
  }

  #ensureDirs(mailbox: string): Promise<void> {
    let ready = this.#ready.get(mailbox);
    if (ready === undefined) {
      ready = this.#createDirs(join(this.#opts.root, mailbox));
      this.#ready.set(mailbox, ready);
      const mine = ready;
      ready.catch(() => {
        if (this.#ready.get(mailbox) === mine) this.#ready.delete(mailbox);
      });
    }
    return ready;
  }

  async #createDirs(dir: string): Promise<void> {
    const syncDir = (d: string): Promise<void> => this.#dirSync.sync(d);
    let created = await makeDurableDir(dir, syncDir);
    for (const sub of ['tmp', 'new', 'cur']) {
      try {
        await mkdir(join(dir, sub), { mode: 0o700 });
        created = true;
      } catch (err) {
        if (errorCode(err) !== 'EEXIST') throw err;
      }
    }
    // With a group, once per folder and process (folders made before the option was set are given it too).
    if (this.#opts.group !== undefined) await Promise.all([this.#opts.root, dir, ...['tmp', 'new', 'cur'].map((sub) => join(dir, sub))].map((d) => this.#share(d)));
    if (created) await syncDir(dir);
  }

  /** The folder given to the Maildir group: chown to it, then mode 2750 or 2770 (chown clears the setgid bit). */
  async #share(dir: string): Promise<void> {
    const gid = this.#opts.group as number;
    await chown(dir, -1, gid);
    await chmod(dir, groupModes(this.#opts.groupWrite === true).dir);
  }

  /**
   * <root>/<mailbox>/.<folder>/{tmp,new,cur} and its `maildirfolder` marker (Maildir++, as Dovecot and Courier make
   * them), created once; resolves with its new/. `folder` is one of ours ("Junk"), never a client's word.
   */
  #subfolder(mailbox: string, folder: string): Promise<string> {
    if (!isMailboxName(folder)) return Promise.reject(new Error(`invalid Maildir++ folder name ${JSON.stringify(folder)}`));
    const dir = join(this.#opts.root, mailbox, `.${folder}`);
    const key = join(mailbox, `.${folder}`);
    let ready = this.#ready.get(key);
    if (ready === undefined) {
      ready = this.#createDirs(dir).then(async () => {
        await writeFile(join(dir, 'maildirfolder'), '', { flag: 'a', mode: this.#opts.group === undefined ? 0o600 : groupModes(this.#opts.groupWrite === true).file });
      });
      this.#ready.set(key, ready);
      const mine = ready;
      ready.catch(() => {
        if (this.#ready.get(key) === mine) this.#ready.delete(key);
      });
    }
    return ready.then(() => join(dir, 'new'));
  }

  #forget(mailboxes: readonly string[]): void {
    for (const m of mailboxes) this.#ready.delete(m);
  }
}

/** One mailbox's file of a message. */
interface Copy {
  readonly mailbox: string;
  readonly file: DurableFile;
  /** The Return-Path header's length: the file's head, not counted by DurableFile.size. */
  readonly headLength: number;
}

class PendingMessage implements MaildirMessage {
  readonly #copies: readonly Copy[];
  readonly #onFailure: () => void;
  readonly #subfolder: (mailbox: string, folder: string) => Promise<string>;
  #state: 'open' | 'committed' | 'closed' = 'open';
  #delivered: readonly DeliveredCopy[] = [];
  /** Every operation runs after the previous one, so abort() never races a write or a commit. */
  readonly #ops = new Serial();

  constructor(copies: readonly Copy[], onFailure: () => void, subfolder: (mailbox: string, folder: string) => Promise<string>) {
    this.#copies = copies;
    this.#onFailure = onFailure;
    this.#subfolder = subfolder;
  }

  write(chunk: Buffer): Promise<void> {
    return this.#ops.run(async () => {
      if (this.#state !== 'open') throw new Error(`write on a message already ${this.#state}`);
      await Promise.all(this.#copies.map((c) => c.file.write(chunk)));
    });
  }

  commit(opts: { prefix?: Buffer; folder?: string } = {}): Promise<readonly DeliveredCopy[]> {
    return this.#ops.run(() => this.#commit(opts));
  }

  abort(): Promise<void> {
    return this.#ops.run(() => this.#discard());
  }

  /**
   * Every copy flushed first, then every rename into new/, then the folders flushed: the window in which some copies
   * are in new/ and others are not is as short as it can be.
   */
  async #commit(opts: { prefix?: Buffer; folder?: string }): Promise<readonly DeliveredCopy[]> {
    if (this.#state === 'committed') return this.#delivered;
    if (this.#state === 'closed') throw new Error('commit of an aborted message');
    const { folder } = opts;
    const dirs = new Map<Copy, string>();
    const steps = [
      (c: Copy) => c.file.prepare(opts),
      async (c: Copy) => {
        if (folder !== undefined) dirs.set(c, await this.#subfolder(c.mailbox, folder));
      },
      (c: Copy) => c.file.place({ dir: dirs.get(c) }),
      (c: Copy) => c.file.sync(),
    ];
    for (const step of steps) {
      try {
        await settleAll(this.#copies.map((c) => step(c)));
      } catch (err) {
        // Copies already in new/ stay there: they are complete and flushed, and a reader may already have taken
        // them. The caller answers 451, the sender retries, and those mailboxes get a duplicate — better than a
        // loss if the sender never retries, and the only other choice once a copy is public.
        this.#onFailure();
        await this.#discard();
        throw err;
      }
    }
    this.#state = 'committed';
    this.#delivered = this.#copies.map((c) => ({ mailbox: c.mailbox, folder: folder ?? null, name: c.file.name, size: c.headLength + c.file.size }));
    return this.#delivered;
  }

  /** Never throws: removes what is still in tmp/. */
  async #discard(): Promise<void> {
    if (this.#state !== 'open') return;
    this.#state = 'closed';
    await Promise.allSettled(this.#copies.map((c) => c.file.abort()));
  }
}

/** Like Promise.all, but waits for every promise before throwing the first error (no operation left running). */
async function settleAll(promises: readonly Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r) => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
}
