// The passwords file: one "address:hash" line per login ('#' comments), read at start and on SIGHUP, written by `facteur passwd`.
import { readFile, stat } from 'node:fs/promises';
import { replaceFileDurably } from '../fs/durable-file.js';
import { BadHashError, parseHash, type PasswordHash } from './password-hash.js';

/** The lookup key of a login: case-insensitive, as recipients are matched (src/inbound/mailboxes.ts). */
export const loginKey = (address: string): string => address.toLowerCase();

export interface PasswordEntry {
  /** The address as written in the file. */
  readonly address: string;
  readonly hash: PasswordHash;
}

/** The logins and their hashes, by loginKey(). */
export type Passwords = ReadonlyMap<string, PasswordEntry>;

/** A line that is not "address:hash"; the message starts with "FILE:LINE:". */
export class PasswordsFileError extends Error {}

/** Parses the file's text; throws PasswordsFileError naming the first bad line. */
export function parsePasswords(text: string, file: string): Passwords {
  const entries = new Map<string, PasswordEntry>();
  text.split('\n').forEach((raw, index) => {
    const line = raw.replace(/\r$/, '').trim();
    if (line === '' || line.startsWith('#')) return;
    const where = `${file}:${index + 1}`;
    // An address in the mailbox syntax of the config has no ":" (config/schema.ts normalizeAddress), so the first one splits.
    const colon = line.indexOf(':');
    const address = colon < 0 ? '' : line.slice(0, colon).trim();
    if (colon < 0 || !/^[^\s@]+@[^\s@]+$/.test(address)) throw new PasswordsFileError(`${where}: expected "address:hash", as \`facteur passwd\` writes it`);
    let hash: PasswordHash;
    try {
      hash = parseHash(line.slice(colon + 1).trim());
    } catch (err) {
      if (err instanceof BadHashError) throw new PasswordsFileError(`${where}: ${address}: ${err.message}`);
      throw err;
    }
    if (entries.has(loginKey(address))) throw new PasswordsFileError(`${where}: ${address} has a password on an earlier line already`);
    entries.set(loginKey(address), { address, hash });
  });
  return entries;
}

export interface LoadedPasswords {
  readonly passwords: Passwords;
  /** False when there is no file yet (then there are no passwords). */
  readonly exists: boolean;
  /** Why the file is a risk as it stands (readable by others), or null. */
  readonly warning: string | null;
}

/** Reads the file; a missing file is an empty one (nobody can log in yet). Throws PasswordsFileError on any problem. */
export async function loadPasswords(file: string): Promise<LoadedPasswords> {
  let text: string;
  let mode: number;
  try {
    [text, mode] = await Promise.all([readFile(file, 'utf8'), stat(file).then((s) => s.mode)]);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { passwords: new Map(), exists: false, warning: `${file} does not exist yet: nobody can log in (set a password with \`facteur passwd ADDRESS\`)` };
    throw new PasswordsFileError(`${file}: cannot read the passwords file (${code ?? String(err)})`, { cause: err });
  }
  const warning = (mode & 0o077) !== 0 ? `${file} can be read by other users (mode ${(mode & 0o777).toString(8)}): chmod 600 it` : null;
  return { passwords: parsePasswords(text, file), exists: true, warning };
}

/**
 * Sets `address`'s hash in the file's text: its line is replaced where it stands, or a line is added at the end.
 * Comments and the other lines are kept as they are.
 */
export function withPassword(text: string, address: string, hash: string): string {
  const key = loginKey(address);
  const lines = text === '' ? [] : text.replace(/\n$/, '').split('\n');
  const index = lines.findIndex((raw) => {
    const line = raw.trim();
    const colon = line.indexOf(':');
    return !line.startsWith('#') && colon > 0 && loginKey(line.slice(0, colon).trim()) === key;
  });
  const entry = `${address}:${hash}`;
  if (index < 0) lines.push(entry);
  else lines[index] = entry;
  return `${lines.join('\n')}\n`;
}

/** Writes `address`'s new hash into the file, atomically (a crash leaves the old file or the new one), mode 0600. */
export async function storePassword(file: string, address: string, hash: string): Promise<void> {
  let text = '';
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  // Refuse to rewrite a file we could not read back: the other users' lines would be lost or kept broken.
  parsePasswords(text, file);
  await replaceFileDurably(file, withPassword(text, address, hash), { mode: 0o600 });
}
