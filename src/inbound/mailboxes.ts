// The local users: recipient address → mailbox name, from [inbound.users] and the optional "carte" users file.
import { readFile } from 'node:fs/promises';
import type { InboundConfig } from '../config/config.js';
import { checkUsers, type UserEntry } from '../mail/local-users.js';
import type { Address } from '../mail/address.js';
import { parseUsersFile } from './users-file.js';

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

  /** Checks every entry against the users' rules (mail/local-users.ts); throws "WHERE: problem" for the first one broken. */
  private constructor(domains: readonly string[], entries: readonly UserEntry[]) {
    this.#domains = domains.map((d) => d.toLowerCase());
    this.#domainSet = new Set(this.#domains);
    const [problem] = checkUsers(entries, this.#domains);
    if (problem !== undefined) throw new Error(`${problem.where}: ${problem.message}`);
    const byKey = new Map<string, string>();
    for (const entry of entries) {
      for (const address of entry.addresses) {
        const at = address.lastIndexOf('@');
        byKey.set(keyOf(address.slice(0, at), address.slice(at + 1)), entry.mailbox);
      }
    }
    this.#byKey = byKey;
    this.#names = [...new Set(entries.map((e) => e.mailbox))];
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
}

function inlineEntries(users: Readonly<Record<string, readonly string[]>>): UserEntry[] {
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
