// Per-mailbox quotas on the Maildirs facteur writes, counted in each mailbox's Maildir++ `maildirsize` (maildirsize.ts).
import { chmod, open, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errorCode } from '../fs/error-code.js';
import type { Logger } from '../observability/logger.js';
import {
  formatMaildirsize,
  isOver,
  needsRecalculation,
  parseMaildirsize,
  usageLine,
  type MaildirUsage,
  type QuotaDefinition,
} from './maildirsize.js';

export interface MaildirQuotaOptions {
  /** <data_dir>/<maildir_root>, absolute. */
  readonly root: string;
  /** The quota of a mailbox in bytes; 0: none. */
  readonly quotaOf: (mailbox: string) => number;
  readonly now: () => Date;
  readonly logger: Logger;
  /** Mode of a maildirsize this writes: 0600, or 0640 with inbound.maildir_group (Dovecot must write it too). */
  readonly fileMode?: number;
}

/** A message's size: Maildir++ counts the file's octets (its ",S=" when the name carries one). */
const SIZE_IN_NAME = /,S=(\d+)/;

export class MaildirQuota {
  readonly #opts: MaildirQuotaOptions;
  /** One recalculation at a time per mailbox: concurrent sessions wait for the same one. */
  readonly #recalculating = new Map<string, Promise<MaildirUsage>>();

  constructor(opts: MaildirQuotaOptions) {
    this.#opts = opts;
  }

  /** Whether the mailbox has a quota at all (no maildirsize is read or written for one without). */
  has(mailbox: string): boolean {
    return this.#opts.quotaOf(mailbox) > 0;
  }

  /** Whether one more message of `bytes` fits; true for a mailbox without quota. */
  async fits(mailbox: string, bytes: number): Promise<boolean> {
    const definition = this.#definition(mailbox);
    if (definition === null) return true;
    const usage = await this.usage(mailbox);
    return !isOver(usage, definition, { bytes, count: 1 });
  }

  /** The mailbox's usage from its maildirsize, rebuilt from its folders when the file cannot be trusted. */
  async usage(mailbox: string): Promise<MaildirUsage> {
    const definition = this.#definition(mailbox) ?? { bytes: 0, count: 0 };
    const path = this.#path(mailbox);
    try {
      const [text, info] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
      const parsed = parseMaildirsize(text);
      if (!needsRecalculation(parsed, info, definition, this.#opts.now().getTime()) && parsed !== null) return parsed.usage;
    } catch (err) {
      if (errorCode(err) !== 'ENOENT') throw err;
    }
    return this.#recalculate(mailbox, definition);
  }

  /**
   * Counts a delivered message: one line appended with O_APPEND in a single write(2), so that concurrent sessions
   * (and Dovecot) never interleave their lines. A failure is logged only: the message is delivered, and a missing
   * line is repaired by the next recalculation.
   */
  async record(mailbox: string, bytes: number): Promise<void> {
    if (!this.has(mailbox)) return;
    try {
      const fd = await open(this.#path(mailbox), 'a', this.#opts.fileMode ?? 0o600);
      try {
        await fd.write(usageLine(bytes, 1));
      } finally {
        await fd.close();
      }
    } catch (err) {
      this.#opts.logger.warn({ event: 'quota-record-failed', mailbox, err: String(err) }, 'could not append to maildirsize');
    }
  }

  #definition(mailbox: string): QuotaDefinition | null {
    const bytes = this.#opts.quotaOf(mailbox);
    return bytes > 0 ? { bytes, count: 0 } : null;
  }

  #path(mailbox: string): string {
    return join(this.#opts.root, mailbox, 'maildirsize');
  }

  #recalculate(mailbox: string, definition: QuotaDefinition): Promise<MaildirUsage> {
    let running = this.#recalculating.get(mailbox);
    if (running === undefined) {
      running = this.#rebuild(mailbox, definition).finally(() => this.#recalculating.delete(mailbox));
      this.#recalculating.set(mailbox, running);
    }
    return running;
  }

  /** Sums new/ and cur/ of the inbox and of every Maildir++ folder, then replaces maildirsize by rename(2). */
  async #rebuild(mailbox: string, definition: QuotaDefinition): Promise<MaildirUsage> {
    const dir = join(this.#opts.root, mailbox);
    const folders = [dir];
    for (const entry of await readdirOrEmpty(dir)) if (entry.startsWith('.') && entry !== '.' && entry !== '..') folders.push(join(dir, entry));
    let bytes = 0;
    let count = 0;
    for (const folder of folders) {
      for (const sub of ['new', 'cur']) {
        for (const name of await readdirOrEmpty(join(folder, sub))) {
          if (name.startsWith('.')) continue;
          const inName = SIZE_IN_NAME.exec(name);
          let size: number;
          if (inName !== null) size = Number(inName[1]);
          else {
            try {
              size = (await stat(join(folder, sub, name))).size;
            } catch (err) {
              if (errorCode(err) === 'ENOENT') continue; // moved or expunged meanwhile
              throw err;
            }
          }
          bytes += size;
          count += 1;
        }
      }
    }
    const usage = { bytes, count };
    const tmp = join(dir, 'tmp', `maildirsize.${process.pid}.${Date.now()}.${Math.random().toString(36).slice(2)}`);
    try {
      await writeFile(tmp, formatMaildirsize(definition, usage), { mode: this.#opts.fileMode ?? 0o600, flag: 'wx' });
      await chmod(tmp, this.#opts.fileMode ?? 0o600); // past the umask: Dovecot's quota appends to it too (group write)
      await rename(tmp, this.#path(mailbox));
    } catch (err) {
      // The usage is still right for this check; the next one tries again.
      this.#opts.logger.warn({ event: 'quota-recalc-failed', mailbox, err: String(err) }, 'could not rewrite maildirsize');
    }
    this.#opts.logger.info({ event: 'quota-recalculated', mailbox, bytes, count }, 'maildirsize recalculated');
    return usage;
  }
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (errorCode(err) === 'ENOENT' || errorCode(err) === 'ENOTDIR') return [];
    throw err;
  }
}
