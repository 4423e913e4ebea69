// The "carte" users file inherited from the C ancestor: one line per mailbox, "mailbox : address, address", and one
// per alias, "address : target, target" (a left side with "@": README, Addresses). This file only splits lines; the
// rules (mail/local-users.ts, mail/alias-rules.ts) are checked by mailboxes.ts and routing/alias-table.ts.
import type { AliasEntry } from '../mail/alias-rules.js';
import type { UserEntry } from '../mail/local-users.js';

/** The mailbox lines of a users file (its alias lines are skipped): see parseCarte. */
export function parseUsersFile(text: string, file: string): UserEntry[] {
  return parseCarte(text, file).users;
}

/**
 * Splits a users file into mailbox entries and alias entries. '#' starts a comment anywhere on a line (so an address
 * containing '#' cannot be listed here; use [inbound.users] or [inbound.aliases] for it); blank lines are skipped;
 * whitespace around names and commas is ignored; CRLF line endings are tolerated. A line whose left side contains
 * "@" ("info@example.org", or "@example.org" for a catch-all) is an alias, any other a mailbox.
 * Throws Error("FILE:LINE: problem") on a line that is not "name : item[, item]...".
 */
export function parseCarte(text: string, file: string): { users: UserEntry[]; aliases: AliasEntry[] } {
  const users: UserEntry[] = [];
  const aliases: AliasEntry[] = [];
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  lines.forEach((raw, index) => {
    const where = `${file}:${index + 1}`;
    const hash = raw.indexOf('#');
    const content = (hash === -1 ? raw : raw.slice(0, hash)).trim();
    if (content === '') return;
    // An alias's left side is an address, which has no ":"; a mailbox name has none either.
    const colon = content.indexOf(':');
    if (colon === -1) throw new Error(`${where}: expected "mailbox : address, address" or "alias@domain : target, target", found no ":"`);
    const name = content.slice(0, colon).trim();
    const list = content.slice(colon + 1).trim();
    if (name === '') throw new Error(`${where}: missing mailbox name or alias before ":"`);
    if (list === '') throw new Error(`${where}: no address after "${name} :"`);
    const items = list.split(',').map((a) => a.trim());
    if (items.includes('')) throw new Error(`${where}: empty address in the list (a stray comma?)`);
    if (name.includes('@')) aliases.push({ where, alias: name, targets: items });
    else users.push({ where, mailbox: name, addresses: items });
  });
  return { users, aliases };
}
