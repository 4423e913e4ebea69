// Answers remembered for their TTL (RFC 1035 §3.2.1), denials for their negative TTL (RFC 2308 §5), in a bounded LRU map.
import type { DnsErrorCode } from './dns-error.js';

/** What is remembered for one (name, type). */
export type CachedAnswer =
  | { readonly kind: 'records'; readonly records: readonly unknown[]; readonly name: string; readonly authenticated: boolean }
  | { readonly kind: 'denial'; readonly code: Extract<DnsErrorCode, 'ENOTFOUND' | 'ENODATA'>; readonly authenticated: boolean };

interface Entry {
  readonly answer: CachedAnswer;
  /** ms on the cache's clock. */
  readonly expires: number;
}

/**
 * A Map used as an LRU list: a hit moves its entry to the end, and past `maxEntries` the first (least recently
 * used) entry goes. Expired entries are dropped when met. Only answers are stored: a failure (SERVFAIL, timeout)
 * is asked again next time, so a DNS outage ends as soon as the DNS is back.
 */
export class DnsCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly maxEntries: number,
    private readonly now: () => number,
  ) {}

  /** The answer and the whole seconds it may still be used, or undefined. */
  get(key: string): { readonly answer: CachedAnswer; readonly ttl: number } | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    const left = entry.expires - this.now();
    this.entries.delete(key);
    if (left <= 0) return undefined;
    this.entries.set(key, entry);
    return { answer: entry.answer, ttl: Math.ceil(left / 1000) };
  }

  /** Remembers `answer` for `ttl` seconds; a TTL of 0 means "use once", so nothing is stored (RFC 1035 §3.2.1). */
  set(key: string, answer: CachedAnswer, ttl: number): void {
    if (!(ttl > 0) || this.maxEntries <= 0) return;
    this.entries.delete(key);
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) this.entries.delete(oldest.value);
    }
    this.entries.set(key, { answer, expires: this.now() + ttl * 1000 });
  }

  get size(): number {
    return this.entries.size;
  }
}
