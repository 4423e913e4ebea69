// Which MTA-STS policy applies to a domain now (RFC 8461 §5.1): the TXT id, the cached policy, a fetch when the id changes.
import { type DnsResolver } from '../../dns/dns-resolver.js';
import { isDnsError } from '../../dns/dns-error.js';
import type { Logger } from '../../observability/logger.js';
import type { StsFetchFailure, StsFetchResult } from './sts-fetch.js';
import { selectStsRecord } from './sts-record.js';
import type { StoredStsPolicy, StsPolicyStore } from './sts-store.js';
import type { StsPolicy } from './sts-policy.js';
import { rememberBounded } from '../../cache/bounded-map.js';

/** The answer for one domain. */
export interface StsLookup {
  /** The policy to apply (mode enforce or testing), or null: no policy, or one in mode none. */
  readonly policy: (StsPolicy & { readonly id: string; readonly mode: 'enforce' | 'testing' }) | null;
  /** "fetched": fetched just now; "cached": from the cache (memory or disk); "none": no policy known. */
  readonly source: 'fetched' | 'cached' | 'none';
  /** What went wrong on the way, when something did (a failed fetch while a cached policy still applies, a bad record). */
  readonly problem: { readonly reason: string; readonly failure: StsFetchFailure | 'sts-record-invalid' | 'dns-error' } | null;
}

export interface MtaStsOptions {
  /** Looks up `_mta-sts.<domain>` TXT. */
  readonly dns: Pick<DnsResolver, 'txt'>;
  /** Fetches the policy over HTTPS (sts-fetch.ts, bound to the trust store and the resolver). */
  readonly fetch: (domain: string) => Promise<StsFetchResult>;
  readonly store: Pick<StsPolicyStore, 'load' | 'save'>;
  readonly now?: () => number;
  readonly logger?: Logger;
  /** Domains kept in memory at most (default 10,000); the others are read from disk again when needed. */
  readonly memory?: number;
}

/** A cached policy is fetched again (same id) after a day, or half its max_age if shorter, so a policy in use never expires. */
const REFRESH_AFTER_MS = 86_400_000;
/**
 * "This domain has no MTA-STS" (no TXT record, nothing cached) is remembered this long. RFC 8461 §5.1 asks for the
 * TXT lookup to discover policies, not for one per message; a resolver would normally cache the denial itself (RFC
 * 2308, for the SOA's minimum: minutes to hours), but one that sends NXDOMAIN without a SOA (dnsmasq --local, some
 * split-horizon set-ups) makes it uncacheable, and RFC 2308 §5 says to keep it so at the DNS layer. A memo at the
 * policy layer costs at most this delay in noticing a policy published for the first time, which trust on first use
 * (§10.2) already allows; a domain with a cached policy is never memoized, so a policy in use is never missed.
 */
const NO_POLICY_MEMO_MS = 60_000;
/** After a failed fetch the domain's policy host is left alone this long: a dead server must not slow every delivery. */
const RETRY_FETCH_AFTER_MS = 5 * 60_000;

/**
 * Policy discovery as RFC 8461 §5.1 describes it, per delivery:
 * - the `_mta-sts` TXT record gives the policy's id; a cached, unexpired policy with that id is used as is (and
 *   fetched again once a day, so a policy in use never expires; §5.1.1 asks for such refreshes);
 * - a new id (or no cached policy) means a fetch; if the fetch fails, the cached policy still applies, and the
 *   host is not asked again for RETRY_FETCH_AFTER_MS;
 * - no TXT record, a broken one, or a DNS failure: the cached policy applies until it expires ("senders... MUST
 *   continue to use the cached policy", §5.1; only a policy with mode none withdraws it);
 * - nothing cached and nothing fetched: no policy (trust on first use is the limit of MTA-STS, §10.2).
 * Cached policies live on disk, so a restart or a DNS outage never drops a domain back to no policy.
 */
export class MtaSts {
  private readonly now: () => number;
  private readonly memory = new Map<string, StoredStsPolicy | null>();
  private readonly inflight = new Map<string, Promise<StsLookup>>();
  /** When a fetch last failed, per domain (bounded like `memory`). */
  private readonly failedAt = new Map<string, number>();
  /** Until when a domain is known to have no policy (bounded like `memory`). */
  private readonly noPolicyUntil = new Map<string, number>();

  constructor(private readonly opts: MtaStsOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** The policy of `domain` (lower-cased A-labels) for this delivery. Never throws. */
  policyFor(domain: string): Promise<StsLookup> {
    const d = domain.toLowerCase().replace(/\.$/, '');
    let pending = this.inflight.get(d);
    if (pending === undefined) {
      pending = this.discover(d).finally(() => this.inflight.delete(d));
      this.inflight.set(d, pending);
    }
    return pending;
  }

  private async discover(domain: string): Promise<StsLookup> {
    const none: StsLookup = { policy: null, source: 'none', problem: null };
    const until = this.noPolicyUntil.get(domain);
    if (until !== undefined && this.now() < until) return none;
    const cached = await this.cached(domain);
    const record = await this.record(domain);
    this.noPolicyUntil.delete(domain);
    if (!record.ok) {
      if (record.failure === 'none' && cached === null) {
        rememberBounded(this.noPolicyUntil, domain, this.now() + NO_POLICY_MEMO_MS, this.opts.memory ?? 10_000);
        return none;
      }
      return this.use(cached, 'cached', record.failure === 'none' ? null : { reason: record.reason, failure: record.failure });
    }
    const fresh = cached !== null && cached.id === record.id;
    if (fresh && this.now() - cached.fetched < Math.min(REFRESH_AFTER_MS, (cached.expires - cached.fetched) / 2)) return this.use(cached, 'cached', null);
    const failed = this.failedAt.get(domain);
    if (failed !== undefined && this.now() - failed < RETRY_FETCH_AFTER_MS) {
      return this.use(cached, 'cached', { reason: `the policy fetch failed less than ${RETRY_FETCH_AFTER_MS / 60_000} minutes ago`, failure: 'sts-policy-fetch-error' });
    }
    const fetched = await this.opts.fetch(domain);
    if (!fetched.ok) {
      rememberBounded(this.failedAt, domain, this.now(), this.opts.memory ?? 10_000);
      this.opts.logger?.warn({ domain, id: record.id, reason: fetched.reason, cached: cached?.id ?? null }, 'MTA-STS policy fetch failed');
      return this.use(cached, 'cached', { reason: fetched.reason, failure: fetched.failure });
    }
    this.failedAt.delete(domain);
    const now = this.now();
    const entry: StoredStsPolicy = { domain, id: record.id, policy: fetched.policy, fetched: now, expires: now + fetched.policy.maxAge * 1000 };
    this.remember(domain, entry);
    try {
      await this.opts.store.save(entry);
    } catch (err) {
      // The policy still applies from memory; only a restart would lose it.
      this.opts.logger?.error({ domain, err }, 'MTA-STS policy could not be saved');
    }
    if (!fresh) this.opts.logger?.info({ domain, id: record.id, mode: fetched.policy.mode, mx: fetched.policy.mx, max_age: fetched.policy.maxAge }, 'MTA-STS policy fetched');
    return this.use(entry, 'fetched', null);
  }

  /** The TXT record's id, or why there is none ("none" when the domain simply has no record). */
  private async record(domain: string): Promise<{ ok: true; id: string } | { ok: false; failure: 'none' | 'sts-record-invalid' | 'dns-error'; reason: string }> {
    const name = `_mta-sts.${domain}`;
    try {
      const answer = await this.opts.dns.txt(name);
      const selected = selectStsRecord(answer.records);
      if (selected.ok) return { ok: true, id: selected.record.id };
      // TXT records that are not MTA-STS ones (a wildcard SPF record…) mean no MTA-STS; a broken one is worth a word.
      const failure = /no TXT record beginning/.test(selected.reason) ? 'none' : 'sts-record-invalid';
      return { ok: false, failure, reason: `${name}: ${selected.reason}` };
    } catch (err) {
      if (isDnsError(err) && !err.temporary) return { ok: false, failure: 'none', reason: `${name}: ${err.code}` };
      if (!isDnsError(err)) throw err;
      return { ok: false, failure: 'dns-error', reason: `${name}: ${err.code}` };
    }
  }

  /** The policy in memory, else on disk; null when none, or expired. */
  private async cached(domain: string): Promise<StoredStsPolicy | null> {
    let entry = this.memory.get(domain);
    if (entry === undefined) {
      entry = await this.opts.store.load(domain);
      this.remember(domain, entry);
    }
    return entry !== null && entry.expires > this.now() ? entry : null;
  }

  private remember(domain: string, entry: StoredStsPolicy | null): void {
    this.memory.delete(domain);
    if (this.memory.size >= (this.opts.memory ?? 10_000)) {
      const oldest = this.memory.keys().next();
      if (oldest.done !== true) this.memory.delete(oldest.value);
    }
    this.memory.set(domain, entry);
  }

  private use(entry: StoredStsPolicy | null, source: 'fetched' | 'cached', problem: StsLookup['problem']): StsLookup {
    if (entry === null) return { policy: null, source: 'none', problem };
    const { mode } = entry.policy;
    // Mode none is a policy (it is cached, and withdraws an older one), but it asks nothing of the sender.
    if (mode === 'none') return { policy: null, source, problem };
    return { policy: { ...entry.policy, mode, id: entry.id }, source, problem };
  }
}
