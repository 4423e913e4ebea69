// Check results remembered for a short while under a key that holds every input of the check (SPF: client IP,
// identity, HELO; DMARC: author domain, its record, the aligned identifiers): a sender that delivers many messages in
// a row (a mailing list, a busy relay) is evaluated once, not once per message. A temperror is never kept, so a DNS
// failure is retried with the next message.
import { rememberBounded } from '../cache/bounded-map.js';

export interface ResultCacheOptions {
  /** How long a result is reused, in ms (default one minute). */
  readonly ttlMs?: number;
  /** Results kept at most; the oldest goes first (default 10,000). */
  readonly maxEntries?: number;
  readonly now?: () => number;
}

interface Entry<T> {
  readonly outcome: Promise<T>;
  readonly expires: number;
}

/** T: an outcome of which only `result` is read here ("temperror" is not kept). */
export class ResultCache<T extends { readonly result: string }> {
  readonly #ttl: number;
  readonly #max: number;
  readonly #now: () => number;
  /** In insertion order, so the first key is the oldest. */
  readonly #entries = new Map<string, Entry<T>>();

  constructor(opts: ResultCacheOptions = {}) {
    this.#ttl = opts.ttlMs ?? 60_000;
    this.#max = opts.maxEntries ?? 10_000;
    this.#now = opts.now ?? Date.now;
  }

  /** The outcome for `key`: the one remembered, or `check()`'s, which is remembered. Checks of one key running at once share one evaluation. */
  get(key: string, check: () => Promise<T>): Promise<T> {
    const now = this.#now();
    const hit = this.#entries.get(key);
    if (hit !== undefined && hit.expires > now) return hit.outcome;
    this.#entries.delete(key);
    const outcome = check();
    const entry: Entry<T> = { outcome, expires: now + this.#ttl };
    rememberBounded(this.#entries, key, entry, this.#max);
    // A temporary error says nothing about the next attempt: forget it (unless a newer entry replaced it already).
    // A check that throws is forgotten too (its callers see the rejection).
    const forget = () => {
      if (this.#entries.get(key) === entry) this.#entries.delete(key);
    };
    outcome.then((o) => (o.result === 'temperror' ? forget() : undefined), forget);
    return outcome;
  }

  /** Results held now (expired ones included until asked for again or pushed out). */
  get size(): number {
    return this.#entries.size;
  }
}
