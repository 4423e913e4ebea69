// The aliases of the config: [inbound.aliases] and the "address : target" lines of the carte users file, as one
// table keyed case-insensitively ("info@example.org", "@example.org" for a catch-all).
import { readFile } from 'node:fs/promises';
import type { InboundConfig } from '../config/config.js';
import { aliasEntries } from '../config/schema-routing.js';
import { aliasKey, checkAliases, type AliasEntry } from '../mail/alias-rules.js';
import { parseCarte } from '../inbound/users-file.js';

export class AliasTable {
  readonly #byKey: ReadonlyMap<string, readonly string[]>;
  /** Every entry, with where it was configured (for check-config and `facteur route`). */
  readonly entries: readonly AliasEntry[];

  private constructor(entries: readonly AliasEntry[]) {
    const byKey = new Map<string, readonly string[]>();
    for (const e of entries) {
      const key = aliasKey(e.alias);
      if (key !== null) byKey.set(key, e.targets);
    }
    this.#byKey = byKey;
    this.entries = entries;
  }

  static readonly empty = new AliasTable([]);

  /** Checks the entries (mail/alias-rules.ts) against the local domains; throws "WHERE: problem" for the first one broken. */
  static of(entries: readonly AliasEntry[], domains: readonly string[]): AliasTable {
    const [problem] = checkAliases(entries, domains.map((d) => d.toLowerCase()));
    if (problem !== undefined) throw new Error(`${problem.where}: ${problem.message}`);
    return new AliasTable(entries);
  }

  /** [inbound.aliases], then the alias lines of the users file. Throws on any problem. */
  static async load(cfg: InboundConfig): Promise<AliasTable> {
    const entries = aliasEntries(cfg.aliases);
    if (cfg.usersFile !== null) {
      // Mailboxes.load has read (and reported the problems of) the same file: here only its alias lines matter.
      const text = await readFile(cfg.usersFile, 'utf8').catch((err: unknown) => {
        throw new Error(`${cfg.usersFile}: cannot read the users file (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { cause: err });
      });
      entries.push(...parseCarte(text, cfg.usersFile).aliases);
    }
    return AliasTable.of(entries, cfg.domains);
  }

  /** The targets of an alias key (as aliasKey makes it), or undefined. */
  get(key: string): readonly string[] | undefined {
    return this.#byKey.get(key);
  }
}
