// SPF results remembered for a short while per (client IP, identity checked, HELO name): a sender that delivers many
// messages in a row (a mailing list, a busy relay) is evaluated once, not once per message. RFC 7208 §4 makes the
// result a function of exactly those inputs and of the DNS, whose answers are cached anyway; a temperror is never
// kept, so a DNS failure is retried with the next message.

import { ResultCache, type ResultCacheOptions } from './result-cache.js';

export type SpfCacheOptions = ResultCacheOptions;

/** T: an SPF outcome (spf-check.ts), of which only the result is read here. */
export class SpfCache<T extends { readonly result: string }> {
  readonly #cache: ResultCache<T>;

  constructor(opts: SpfCacheOptions = {}) {
    this.#cache = new ResultCache<T>(opts);
  }

  /**
   * The outcome for (ip, identity, helo): the one remembered, or `check()`'s, which is remembered. Checks of the same
   * key running at once share one evaluation.
   */
  get(ip: string, identity: string, helo: string | null, check: () => Promise<T>): Promise<T> {
    return this.#cache.get(`${ip}\n${identity}\n${helo ?? ''}`, check);
  }

  /** Results held now (expired ones included until asked for again or pushed out). */
  get size(): number {
    return this.#cache.size;
  }
}
