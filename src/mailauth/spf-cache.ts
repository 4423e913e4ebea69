// SPF results remembered for a short while per (client IP, identity checked, HELO name): a sender that delivers many
// messages in a row (a mailing list, a busy relay) is evaluated once, not once per message. RFC 7208 §4 makes the
// result a function of exactly those inputs and of the DNS, whose answers are cached anyway; a temperror is never
// kept, so a DNS failure is retried with the next message.

export interface SpfCacheOptions {
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

/** T: an SPF outcome (spf-check.ts), of which only the result is read here. */
export class SpfCache<T extends { readonly result: string }> {
  readonly #ttl: number;
  readonly #max: number;
  readonly #now: () => number;
  /** In insertion order, so the first key is the oldest. */
  readonly #entries = new Map<string, Entry<T>>();

  constructor(opts: SpfCacheOptions = {}) {
    this.#ttl = opts.ttlMs ?? 60_000;
    this.#max = opts.maxEntries ?? 10_000;
    this.#now = opts.now ?? Date.now;
  }

  /**
   * The outcome for (ip, identity, helo): the one remembered, or `check()`'s, which is remembered. Checks of the same
   * key running at once share one evaluation.
   */
  get(ip: string, identity: string, helo: string | null, check: () => Promise<T>): Promise<T> {
    const key = `${ip}\n${identity}\n${helo ?? ''}`;
    const now = this.#now();
    const hit = this.#entries.get(key);
    if (hit !== undefined && hit.expires > now) return hit.outcome;
    this.#entries.delete(key);
    const outcome = check();
    const entry: Entry<T> = { outcome, expires: now + this.#ttl };
    this.#entries.set(key, entry);
    if (this.#entries.size > this.#max) this.#entries.delete(this.#entries.keys().next().value as string);
    // A temporary error says nothing about the next attempt: forget it (unless a newer entry replaced it already).
    void outcome.then((o) => {
      if (o.result === 'temperror' && this.#entries.get(key) === entry) this.#entries.delete(key);
    });
    return outcome;
  }

  /** Results held now (expired ones included until asked for again or pushed out). */
  get size(): number {
    return this.#entries.size;
  }
}
