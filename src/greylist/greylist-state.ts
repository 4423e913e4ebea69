// Greylisting's memory and its decisions (RFC 6647): triples seen and passed, and client networks that retry
// properly; pure, with times passed in, bounded in size, and turned to and from the JSON kept on disk.
import { rememberBounded } from '../cache/bounded-map.js';

export interface GreylistRules {
  /** ms a new triple is refused; a retry after it passes. */
  readonly delay: number;
  /** ms after first sight within which a triple must be retried, or it starts over. */
  readonly expire: number;
  /** ms a passed triple, or a whitelisted network, is kept after its last use. */
  readonly lifetime: number;
  /** Triples a network must pass by retrying before it skips greylisting; 0: never. */
  readonly autoWhitelist: number;
}

/** What to do with one recipient, and why (for the log). */
export type GreylistDecision =
  | { readonly pass: true; readonly why: 'whitelisted' | 'known' | 'retried' }
  | { readonly pass: false; readonly why: 'new' | 'too-early' | 'expired'; readonly retryInMs: number };

interface Triple {
  /** When the first attempt was refused. */
  first: number;
  /** When a retry was let through; 0: not yet. */
  passed: number;
  /** Last attempt. */
  last: number;
}

interface Network {
  /** Triples this network passed by retrying after the delay. */
  passes: number;
  last: number;
}

/** Entries kept at most: past them the least recently used go first (Map order is kept as use order). */
export const MAX_TRIPLES = 200_000;
export const MAX_NETWORKS = 50_000;

/** The file's content: version 1, times in ms since the epoch. */
export interface GreylistSnapshot {
  readonly version: 1;
  /** [tripleKey, first, passed, last] */
  readonly triples: readonly (readonly [string, number, number, number])[];
  /** [network, passes, last] */
  readonly networks: readonly (readonly [string, number, number])[];
}

export class GreylistState {
  private readonly triples = new Map<string, Triple>();
  private readonly networks = new Map<string, Network>();

  constructor(
    private readonly rules: GreylistRules,
    private readonly bounds: { readonly maxTriples: number; readonly maxNetworks: number } = { maxTriples: MAX_TRIPLES, maxNetworks: MAX_NETWORKS },
  ) {}

  get size(): { readonly triples: number; readonly networks: number } {
    return { triples: this.triples.size, networks: this.networks.size };
  }

  /** The decision for one attempt at `now`, and the memory updated with it. */
  decide(network: string, triple: string, now: number): GreylistDecision {
    const { delay, expire, lifetime, autoWhitelist } = this.rules;
    const net = this.networks.get(network);
    const whitelisted = net !== undefined && autoWhitelist > 0 && net.passes >= autoWhitelist && now - net.last <= lifetime;
    if (whitelisted) {
      this.touchNetwork(network, net, now);
      return { pass: true, why: 'whitelisted' };
    }
    const t = this.triples.get(triple);
    if (t !== undefined && t.passed > 0 && now - t.last <= lifetime) {
      this.touchTriple(triple, t, now);
      if (net !== undefined) this.touchNetwork(network, net, now);
      return { pass: true, why: 'known' };
    }
    if (t === undefined || t.passed > 0 || now - t.first > expire) {
      // New, or forgotten: a passed triple unused for its lifetime, an unretried one past its window.
      const why = t === undefined ? 'new' : 'expired';
      this.touchTriple(triple, { first: now, passed: 0, last: now }, now);
      return { pass: false, why, retryInMs: delay };
    }
    const waited = now - t.first;
    if (waited < delay) {
      this.touchTriple(triple, t, now);
      return { pass: false, why: 'too-early', retryInMs: delay - waited };
    }
    // A proper retry: the sender queued the message and came back (RFC 6647 §2.1).
    t.passed = now;
    this.touchTriple(triple, t, now);
    const counted = net ?? { passes: 0, last: now };
    counted.passes += 1;
    this.touchNetwork(network, counted, now);
    return { pass: true, why: 'retried' };
  }

  /** Drops what can no longer matter: unretried triples past their window, passed ones and networks past their lifetime. */
  prune(now: number): number {
    const { expire, lifetime } = this.rules;
    let dropped = 0;
    for (const [key, t] of this.triples) {
      const stale = t.passed > 0 ? now - t.last > lifetime : now - t.first > expire;
      if (stale) {
        this.triples.delete(key);
        dropped += 1;
      }
    }
    for (const [key, n] of this.networks) {
      if (now - n.last > lifetime) {
        this.networks.delete(key);
        dropped += 1;
      }
    }
    return dropped;
  }

  snapshot(): GreylistSnapshot {
    return {
      version: 1,
      triples: [...this.triples].map(([k, t]) => [k, t.first, t.passed, t.last] as const),
      networks: [...this.networks].map(([k, n]) => [k, n.passes, n.last] as const),
    };
  }

  /** Restores a snapshot (in its order, which is use order); throws on a shape that is not one. */
  restore(data: unknown): void {
    const snap = data as Partial<GreylistSnapshot> | null;
    if (snap?.version !== 1 || !Array.isArray(snap.triples) || !Array.isArray(snap.networks)) throw new Error('not a version 1 greylist file');
    for (const row of snap.triples) {
      const [key, first, passed, last] = row as unknown[];
      if (typeof key !== 'string' || !isTime(first) || !isTime(passed) || !isTime(last)) throw new Error('bad triple entry');
      this.touchTriple(key, { first, passed, last }, last);
    }
    for (const row of snap.networks) {
      const [key, passes, last] = row as unknown[];
      if (typeof key !== 'string' || !isTime(passes) || !isTime(last)) throw new Error('bad network entry');
      this.touchNetwork(key, { passes, last }, last);
    }
  }

  /** Sets the entry as the most recently used, evicting the least recently used past the bound. */
  private touchTriple(key: string, t: Triple, now: number): void {
    t.last = Math.max(t.last, now);
    rememberBounded(this.triples, key, t, this.bounds.maxTriples);
  }

  private touchNetwork(key: string, n: Network, now: number): void {
    n.last = Math.max(n.last, now);
    rememberBounded(this.networks, key, n, this.bounds.maxNetworks);
  }
}

const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
