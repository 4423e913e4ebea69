// Reading what facteur delivered: the files of <maildir root>/<mailbox>/{new,tmp,cur}.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export type MaildirFolder = 'new' | 'tmp' | 'cur';

export interface StoredMessage {
  /** The file name, e.g. "1764000000.M123456P4242Q17.mx.test". */
  readonly name: string;
  readonly content: Buffer;
}

/** The Maildir file name facteur writes (README, Quick start): seconds, microseconds, pid, counter, host. */
export const MAILDIR_NAME = /^(\d+)\.M(\d+)P(\d+)Q(\d+)\.(.+)$/;

/** <root>/<mailbox>/<folder>. */
export function mailboxPath(root: string, mailbox: string, folder: MaildirFolder = 'new'): string {
  return join(root, mailbox, folder);
}

/** The file names in a mailbox folder, sorted; [] when the folder does not exist yet. */
export async function listMail(root: string, mailbox: string, folder: MaildirFolder = 'new'): Promise<string[]> {
  try {
    return (await readdir(mailboxPath(root, mailbox, folder))).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** Every message of a mailbox folder with its bytes (for tests: messages are small or few). */
export async function readMail(root: string, mailbox: string, folder: MaildirFolder = 'new'): Promise<StoredMessage[]> {
  const names = await listMail(root, mailbox, folder);
  return Promise.all(names.map(async (name) => ({ name, content: await readFile(join(mailboxPath(root, mailbox, folder), name)) })));
}

/** Splits a stored message at its first empty line: the header block (LF endings) and the body. */
export function splitMessage(content: Buffer | string): { header: string; body: string } {
  const text = typeof content === 'string' ? content : content.toString('utf8');
  const blank = text.indexOf('\n\n');
  return blank < 0 ? { header: text, body: '' } : { header: text.slice(0, blank + 1), body: text.slice(blank + 2) };
}

/**
 * Waits until a mailbox folder holds at least count files, and returns their names. In-process tests never need
 * it (the 250 after DATA comes only once the file is in new/); it is for an external process. A short poll,
 * bounded by timeoutMs, since no event tells us when another process renames a file into a folder that may not
 * exist yet.
 */
export async function waitForMail(root: string, mailbox: string, count: number, timeoutMs = 5000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const names = await listMail(root, mailbox);
    if (names.length >= count) return names;
    if (Date.now() > deadline) throw new Error(`${mailbox}/new holds ${names.length} files, expected ${count}`);
    await new Promise((res) => setImmediate(res));
  }
}
