// The local users: recipient address → mailbox name, from [inbound.users] and the optional "carte" users file.
import { readFile } from 'node:fs/promises';
import type { InboundConfig } from '../config/config.js';
import type { Address } from '../smtp/address.js';
import { parseUsersFile, type MailboxEntry } from './users-file.js';

/**
 * Mailbox names become directory names under maildir_root, so only this safe alphabet is allowed,
 * and never "." or "..": no path is ever built from anything else (and never from what a client sends).
 */
export function isValidMailboxName(name: string): boolean {
  return /^[A-Za-z0-9._-]+$/.test(name) && name !== '.' && name !== '..';
}

// RFC 5321 §4.1.2 Dot-string of atext (RFC 5322 §3.2.3), plus non-ASCII UTF-8 for SMTPUTF8 (RFC 6531 §3.3).
const DOT_STRING = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\u{10FFFF}-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\u{10FFFF}-]+)*$/u;
// RFC 5321 §4.5.3.1.1: a local part is at most 64 octets.
const MAX_LOCAL_OCTETS = 64;

/** The lookup key: case-insensitive on both sides (local parts are matched without case here by policy). */
function keyOf(local: string, domain: string): string {
  return `${local.toLowerCase()}@${domain.toLowerCase()}`;
}

export class Mailboxes {
  /** Local domains, lower-cased, in config order (the first one owns the bare <postmaster>). */
  readonly #domains: readonly string[];
  readonly #domainSet: ReadonlySet<string>;
  readonly #byKey: ReadonlyMap<string, string>;
  readonly #names: readonly string[];

  private constructor(domains: readonly string[], entries: readonly MailboxEntry[]) {
    this.#domains = domains.map((d) => d.toLowerCase());
    this.#domainSet = new Set(this.#domains);
    const byKey = new Map<string, { mailbox: string; where: string }>();
    const names: string[] = [];
    for (const entry of entries) {
      if (!isValidMailboxName(entry.mailbox)) {
        throw new Error(`${entry.where}: invalid mailbox name "${entry.mailbox}" (letters, digits, ".", "_", "-"; not "." or "..")`);
      }
      if (!names.includes(entry.mailbox)) names.push(entry.mailbox);
      for (const address of entry.addresses) {
        const key = this.#checkAddress(address, entry.where);
        const previous = byKey.get(key);
        if (previous !== undefined) {
          throw new Error(`${entry.where}: address ${address} is already delivered to mailbox "${previous.mailbox}" (${previous.where})`);
        }
        byKey.set(key, { mailbox: entry.mailbox, where: entry.where });
      }
    }
    this.#byKey = new Map([...byKey].map(([key, v]) => [key, v.mailbox]));
    this.#names = names;
  }

  /** Builds the map from the config: the inline [inbound.users] table, then the users file if any. Throws on any problem. */
  static async load(cfg: InboundConfig): Promise<Mailboxes> {
    const entries = inlineEntries(cfg.users);
    if (cfg.usersFile !== null) entries.push(...parseUsersFile(await readUsersFile(cfg.usersFile), cfg.usersFile));
    return new Mailboxes(cfg.domains, entries);
  }

  /** For tests and tools: the same validation as load(), from an inline table only. */
  static fromEntries(domains: readonly string[], users: Record<string, readonly string[]>): Mailboxes {
    return new Mailboxes(domains, inlineEntries(users));
  }

  /** The mailbox of a recipient, or null. The bare <postmaster> (domain "") is the first local domain's postmaster (RFC 5321 §4.1.1.3). */
  lookup(address: Address): string | null {
    if (address.domain === '') {
      const first = this.#domains[0];
      if (first === undefined || address.local.toLowerCase() !== 'postmaster') return null;
      return this.#byKey.get(keyOf('postmaster', first)) ?? null;
    }
    return this.#byKey.get(keyOf(address.local, address.domain)) ?? null;
  }

  /** Case-insensitive; "example.org." (trailing dot) and address literals are not local. */
  isLocalDomain(domain: string): boolean {
    return this.#domainSet.has(domain.toLowerCase());
  }

  /** Whether postmaster@domain has a mailbox (RFC 5321 §4.5.1 requires one for every local domain). */
  hasPostmaster(domain: string): boolean {
    return this.#byKey.has(keyOf('postmaster', domain));
  }

  /** Every mailbox name, including mailboxes listed without any address. */
  names(): readonly string[] {
    return this.#names;
  }

  /** Checks one configured address and returns its lookup key; throws "WHERE: problem". */
  #checkAddress(address: string, where: string): string {
    const at = address.lastIndexOf('@');
    const local = at === -1 ? '' : address.slice(0, at);
    const domain = at === -1 ? '' : address.slice(at + 1);
    if (at <= 0 || domain === '') throw new Error(`${where}: "${address}" is not an address (local@domain)`);
    if (!DOT_STRING.test(local) || Buffer.byteLength(local) > MAX_LOCAL_OCTETS) {
      throw new Error(`${where}: "${address}" has an invalid local part`);
    }
    if (!this.#domainSet.has(domain.toLowerCase())) {
      throw new Error(`${where}: "${address}": ${domain} is not a local domain (inbound.domains)`);
    }
    return keyOf(local, domain);
  }
}

function inlineEntries(users: Readonly<Record<string, readonly string[]>>): MailboxEntry[] {
  return Object.entries(users).map(([mailbox, addresses]) => ({ where: `inbound.users.${mailbox}`, mailbox, addresses }));
}

async function readUsersFile(file: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new Error(`${file}: cannot read the users file (${code})`, { cause: err });
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (err) {
    throw new Error(`${file}: the users file is not valid UTF-8`, { cause: err });
  }
}
