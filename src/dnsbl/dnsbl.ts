// DNS blocklists asked about each new client before it is greeted (RFC 5782), as Postfix's postscreen does:
// answers cached with their TTL, lookups bounded in time (a slow or broken list lets mail through).
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { addNetwork } from '../net/networks.js';
import type { Logger } from '../observability/logger.js';
import { replies } from '../smtp/replies.js';
import type { ClientRefusal, ClientScreen } from '../smtp/server/server-context.js';
import { classifyAnswer, queryName, type AnswerMeaning } from './dnsbl-query.js';

/**
 * How the lists are asked: the shape of Node's dns.promises.Resolver#resolve4 (the program's resolver is passed in).
 * With { ttl: true } it gives each address with its TTL; a resolver that gives bare addresses is accepted too.
 * Failures are errors with Node's codes: ENOTFOUND / ENODATA (not listed), ETIMEOUT, ESERVFAIL, ECONNREFUSED…
 */
export type Resolve4 = (hostname: string, options: { ttl: true }) => Promise<readonly (string | { readonly address: string; readonly ttl: number })[]>;

export interface DnsblList {
  readonly zone: string;
  /** Answers that mean listed; null: any 127.0.0.0/8 answer (see classifyAnswer). */
  readonly codes: readonly string[] | null;
}

export interface DnsblOptions {
  readonly lists: readonly DnsblList[];
  /** Longest a client waits for the lists, in ms. */
  readonly timeoutMs: number;
  readonly resolve4: Resolve4;
  /** Networks never looked up (the operator's own, loopback). */
  readonly exempt: readonly string[];
  readonly logger: Logger;
  readonly now?: () => number;
}

/** A client found on a list. */
export interface DnsblHit {
  readonly zone: string;
  /** The A record that listed it, e.g. "127.0.0.2" (its meaning is the list's own: SBL, XBL, PBL…). */
  readonly code: string;
}

/** Cached answers: a listing for its TTL within these bounds, a negative answer (NXDOMAIN) for NEGATIVE_TTL. */
const MIN_TTL_MS = 60_000;
const MAX_TTL_MS = 3_600_000;
const NEGATIVE_TTL_MS = 300_000;
/** Names cached at most; past it the oldest go first. */
const MAX_CACHED = 50_000;
/** A list that answers "do not trust me" is said in the log once per this period, not once per client. */
const WARN_EVERY_MS = 600_000;

/** Error codes of a name that does not exist or has no A record: the address is not listed. */
const NOT_LISTED = new Set(['ENOTFOUND', 'ENODATA']);

export class Dnsbl implements ClientScreen {
  private readonly exempt = new BlockList();
  private readonly cache = new Map<string, { readonly meaning: AnswerMeaning; readonly expires: number }>();
  private readonly inFlight = new Map<string, Promise<AnswerMeaning | null>>();
  private readonly warned = new Map<string, number>();
  private readonly now: () => number;

  constructor(private readonly opts: DnsblOptions) {
    for (const network of opts.exempt) addNetwork(this.exempt, network);
    this.now = opts.now ?? Date.now;
  }

  /** ClientScreen: 554 5.7.1 naming the list for a listed client, null for any other. */
  async screen(ip: string): Promise<ClientRefusal | null> {
    const hit = await this.check(ip);
    return hit === null ? null : { reply: replies.blocklisted(ip, hit.zone), reason: `listed on ${hit.zone} (${hit.code})` };
  }

  /**
   * The first list that has `ip`, or null: not listed, exempt, or no answer within the time limit (lookups still
   * running then go on and fill the cache for the client's next connection). Never rejects.
   */
  async check(ip: string): Promise<DnsblHit | null> {
    if (this.opts.lists.length === 0 || this.isExempt(ip)) return null;
    // A client seen lately (most connections): every answer cached, no timer and no lookup to set up.
    const cached = this.fromCache(ip);
    if (cached !== undefined) return cached;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.opts.timeoutMs);
    });
    try {
      const result = await Promise.race([this.firstHit(ip), timedOut]);
      if (result !== 'timeout') return result;
      this.opts.logger.info({ event: 'dnsbl-timeout', client: ip, timeout_ms: this.opts.timeoutMs }, 'DNS blocklists did not answer in time; client let in');
      return null;
    } finally {
      clearTimeout(timer);
    }
  }

  /** The verdict from cached answers alone; undefined when a list has none (or an expired one) for `ip`. */
  private fromCache(ip: string): DnsblHit | null | undefined {
    const now = this.now();
    for (const list of this.opts.lists) {
      const name = queryName(ip, list.zone);
      const cached = name === null ? undefined : this.cache.get(name);
      if (cached === undefined || cached.expires <= now) return undefined;
      if (cached.meaning.kind === 'listed') return { zone: list.zone, code: cached.meaning.code };
    }
    return null;
  }

  /** Every list asked at once; resolves with the first that lists the address, or null once all have answered. */
  private firstHit(ip: string): Promise<DnsblHit | null> {
    return new Promise((resolve) => {
      let pending = this.opts.lists.length;
      for (const list of this.opts.lists) {
        void this.lookup(ip, list)
          .catch((err: unknown) => {
            this.opts.logger.error({ err, zone: list.zone }, 'DNS blocklist lookup failed unexpectedly');
            return null;
          })
          .then((meaning) => {
            if (meaning?.kind === 'listed') resolve({ zone: list.zone, code: meaning.code });
            if (--pending === 0) resolve(null);
          });
      }
    });
  }

  /** One list's verdict on one address: cached, or asked once however many sessions wait for it. null: no verdict. */
  private lookup(ip: string, list: DnsblList): Promise<AnswerMeaning | null> {
    const name = queryName(ip, list.zone);
    if (name === null) return Promise.resolve(null);
    const cached = this.cache.get(name);
    if (cached !== undefined && cached.expires > this.now()) return Promise.resolve(cached.meaning);
    let running = this.inFlight.get(name);
    if (running === undefined) {
      running = this.ask(name, list).finally(() => this.inFlight.delete(name));
      this.inFlight.set(name, running);
    }
    return running;
  }

  private async ask(name: string, list: DnsblList): Promise<AnswerMeaning | null> {
    let records: readonly (string | { readonly address: string; readonly ttl: number })[];
    try {
      records = await this.opts.resolve4(name, { ttl: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (NOT_LISTED.has(code)) {
        this.remember(name, { kind: 'clear' }, NEGATIVE_TTL_MS);
        return { kind: 'clear' };
      }
      // SERVFAIL, a timeout, a refused query: no verdict, and nothing cached (the next client asks again).
      this.opts.logger.debug({ event: 'dnsbl-error', zone: list.zone, query: name, err: code || (err as Error).message }, 'DNS blocklist lookup failed');
      return null;
    }
    const addresses = records.map((r) => (typeof r === 'string' ? r : r.address));
    const ttls = records.flatMap((r) => (typeof r === 'string' ? [] : [r.ttl * 1000]));
    const meaning = classifyAnswer(addresses, list.codes);
    if (meaning.kind === 'unusable') this.warnUnusable(list.zone, meaning.code);
    this.remember(name, meaning, ttls.length === 0 ? MIN_TTL_MS : Math.min(...ttls));
    return meaning;
  }

  private remember(name: string, meaning: AnswerMeaning, ttlMs: number): void {
    if (this.cache.size >= MAX_CACHED) {
      const oldest = this.cache.keys().next();
      if (oldest.done !== true) this.cache.delete(oldest.value);
    }
    const ttl = Math.min(MAX_TTL_MS, Math.max(MIN_TTL_MS, ttlMs));
    this.cache.delete(name); // re-inserted last: the map's order is the order of expiry, roughly
    this.cache.set(name, { meaning, expires: this.now() + ttl });
  }

  private warnUnusable(zone: string, code: string): void {
    const now = this.now();
    const last = this.warned.get(zone);
    if (last !== undefined && now - last < WARN_EVERY_MS) return;
    this.warned.set(zone, now);
    const why = code.startsWith('127.255.255.')
      ? 'the list refuses our queries (Spamhaus: a public resolver, or over the free quota): use your own resolver or a data query service key'
      : 'an answer outside 127.0.0.0/8 (a resolver that rewrites NXDOMAIN, or a list that no longer works)';
    this.opts.logger.warn({ event: 'dnsbl-unusable', zone, code }, `DNS blocklist ${zone} answered ${code}: ${why}; its answers are ignored`);
  }

  private isExempt(ip: string): boolean {
    if (isIPv4(ip)) return this.exempt.check(ip, 'ipv4');
    return isIPv6(ip) && this.exempt.check(ip, 'ipv6');
  }
}
