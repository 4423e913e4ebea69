// The "carte" users file inherited from the C ancestor: one line per mailbox, "mailbox : address, address".
// This file only splits lines; the users' rules (mail/local-users.ts) are checked by mailboxes.ts, with these locations.
import type { UserEntry } from '../mail/local-users.js';

/**
 * Splits a users file into entries. '#' starts a comment anywhere on a line (so an address
 * containing '#' cannot be listed here; use [inbound.users] for it); blank lines are skipped;
 * whitespace around names and commas is ignored; CRLF line endings are tolerated.
 * Throws Error("FILE:LINE: problem") on a line that is not "mailbox : address[, address]...".
 */
export function parseUsersFile(text: string, file: string): UserEntry[] {
  const entries: UserEntry[] = [];
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  lines.forEach((raw, index) => {
    const where = `${file}:${index + 1}`;
    const hash = raw.indexOf('#');
    const content = (hash === -1 ? raw : raw.slice(0, hash)).trim();
    if (content === '') return;
    const colon = content.indexOf(':');
    if (colon === -1) throw new Error(`${where}: expected "mailbox : address, address", found no ":"`);
    const mailbox = content.slice(0, colon).trim();
    const list = content.slice(colon + 1).trim();
    if (mailbox === '') throw new Error(`${where}: missing mailbox name before ":"`);
    if (list === '') throw new Error(`${where}: no address after "${mailbox} :"`);
    const addresses = list.split(',').map((a) => a.trim());
    if (addresses.includes('')) throw new Error(`${where}: empty address in the list (a stray comma?)`);
    entries.push({ where, mailbox, addresses });
  });
  return entries;
}
