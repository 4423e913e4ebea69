// The rules of the local users, wherever they are configured ([inbound.users] in the config, the "carte" users file):
// mailbox names (they become folder names), the addresses (or a domain's catch-all "@domain"), only in local domains,
// no address in two mailboxes.
import { configuredAddress, domainProblem } from './address.js';

const MAILBOX_NAME = /^[A-Za-z0-9._-]{1,255}$/;

/**
 * Mailbox names become folder names under maildir_root: letters, digits, ".", "_" and "-", 1 to 255 of them (a file
 * name's limit), never "." or "..". No path is ever built from anything else, and never from what a client sends.
 */
export function isMailboxName(name: string): boolean {
  return MAILBOX_NAME.test(name) && name !== '.' && name !== '..';
}

/** One mailbox and its addresses, with where it was configured for messages ("FILE:LINE", "inbound.users.NAME"). */
export interface UserEntry {
  readonly where: string;
  readonly mailbox: string;
  readonly addresses: readonly string[];
}

export interface UserProblem {
  /** The entry's `where`. */
  readonly where: string;
  readonly mailbox: string;
  readonly message: string;
}

/**
 * Every problem of a set of entries, in order. `domains` are the local domains, lower-cased; null when they are not
 * known (a config whose inbound.domains is itself wrong): the addresses' domains are then only checked for syntax.
 * Two mailboxes whose names differ only by case are refused: they would share one folder on some file systems.
 */
export function checkUsers(entries: readonly UserEntry[], domains: readonly string[] | null): UserProblem[] {
  const problems: UserProblem[] = [];
  const owners = new Map<string, UserEntry>(); // lower-cased address → its entry
  const folders = new Map<string, string>(); // lower-cased mailbox → mailbox
  for (const entry of entries) {
    const problem = (message: string) => problems.push({ where: entry.where, mailbox: entry.mailbox, message });
    if (!isMailboxName(entry.mailbox)) {
      problem(`invalid mailbox name "${entry.mailbox}": use letters, digits, ".", "_" and "-", at most 255 (it becomes a folder name; "." and ".." are refused)`);
    }
    const sameFolder = folders.get(entry.mailbox.toLowerCase());
    if (sameFolder !== undefined && sameFolder !== entry.mailbox) {
      problem(`mailbox "${entry.mailbox}" differs from "${sameFolder}" only by case (they would share one folder on some file systems)`);
    }
    folders.set(entry.mailbox.toLowerCase(), entry.mailbox);
    for (const text of entry.addresses) {
      // "@example.org": the domain's catch-all, for every address of it that nothing else takes (routing/router.ts).
      const a = text.startsWith('@') ? catchAll(text) : configuredAddress(text);
      if ('problem' in a) {
        problem(a.problem);
        continue;
      }
      if (domains !== null && !domains.includes(a.domain)) {
        const list = domains.map((d) => `"${d}"`).join(', ');
        problem(`"${text}": ${text.slice(text.lastIndexOf('@') + 1)} is not a local domain (inbound.domains = [${list}]), so no mail for it would ever be accepted`);
        continue;
      }
      const bad = domains === null ? domainProblem(a.domain) : null;
      if (bad !== null) {
        problem(`"${text}" has an invalid domain: it ${bad}`);
        continue;
      }
      const owner = owners.get(a.text.toLowerCase());
      if (owner !== undefined) problem(`address ${text} is already delivered to mailbox "${owner.mailbox}" (${owner.where})`);
      else owners.set(a.text.toLowerCase(), entry);
    }
  }
  return problems;
}

/** A catch-all "@domain" checked as configuredAddress checks an address: its text with the domain lower-cased. */
function catchAll(text: string): ReturnType<typeof configuredAddress> {
  const domain = text.slice(1).toLowerCase();
  const bad = domainProblem(domain);
  if (bad !== null) return { problem: `"${text}" is not a catch-all (@domain): the domain ${bad}` };
  return { local: '', domain, text: `@${domain}` };
}
