// SPF (RFC 7208) for the two identities of a session: MAIL FROM, and HELO (§2.3, §2.4), with mailauth's evaluator.
// It holds the limits of §4.6.4 (10 mechanisms or modifiers that query the DNS, 2 lookups with no answer) across
// include: and redirect= chains, and maps a DNS failure to temperror (§2.6.6), never to a refusal.
import type { SPFResult } from 'mailauth';
import { spf } from 'mailauth/lib/spf/index.js';
import type { DnsResolve } from './dns-resolve.js';
import type { SpfCache } from './spf-cache.js';

export interface SpfOutcome {
  /** pass, fail, softfail, neutral, none, temperror, permerror (RFC 7208 §2.6). */
  readonly result: string;
  readonly comment: string | null;
  /** The domain checked: MAIL FROM's, or the HELO name. */
  readonly domain: string;
}

export interface SpfFacts {
  /** The client's address as seen on the socket. */
  readonly ip: string;
  readonly helo: string | null;
  /** The MAIL FROM address, null for the null reverse-path <>. */
  readonly mailFrom: string | null;
  /** Our name, in the comments ("mx.example.org: domain of … designates …"). */
  readonly hostname: string;
}

/** A HELO name SPF can be checked for: a domain name with a dot (§2.3: not an address literal). */
const HELO_DOMAIN = /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+\.?$/;

export function isCheckableHelo(helo: string | null): helo is string {
  return helo !== null && HELO_DOMAIN.test(helo);
}

/** SPF for `sender` (an address) from `ip`. Never throws: an unexpected failure is a temperror. */
export async function checkSpf(resolve: DnsResolve, facts: SpfFacts, sender: string): Promise<SpfOutcome> {
  const domain = sender.slice(sender.lastIndexOf('@') + 1).toLowerCase();
  try {
    const r: SPFResult = await spf({
      sender,
      ip: facts.ip,
      ...(facts.helo !== null ? { helo: facts.helo } : {}),
      mta: facts.hostname,
      resolver: resolve as (name: string, rrtype: string) => Promise<string[][]>,
    });
    return { result: r.status.result, comment: r.status.comment ?? null, domain: r.domain || domain };
  } catch (err) {
    return { result: 'temperror', comment: `${facts.hostname}: ${(err as Error).message}`, domain };
  }
}

/** The HELO identity's check (§2.3), as "postmaster@<helo>"; null when HELO gave no checkable name. */
export function checkHeloSpf(resolve: DnsResolve, facts: SpfFacts, cache?: SpfCache<SpfOutcome>): Promise<SpfOutcome> | null {
  if (!isCheckableHelo(facts.helo)) return null;
  return cached(resolve, facts, `postmaster@${facts.helo.replace(/\.$/, '')}`, cache);
}

/**
 * The MAIL FROM identity's check (§2.4). For the null reverse-path the identity is postmaster@<HELO>, which is the
 * HELO check again: null then, and the HELO result stands for both.
 */
export function checkMailFromSpf(resolve: DnsResolve, facts: SpfFacts, cache?: SpfCache<SpfOutcome>): Promise<SpfOutcome> | null {
  if (facts.mailFrom === null || !facts.mailFrom.includes('@')) return null;
  return cached(resolve, facts, facts.mailFrom, cache);
}

/** checkSpf through the cache when there is one (its key: the client's IP, the identity and the HELO name, which %{h} may use). */
function cached(resolve: DnsResolve, facts: SpfFacts, sender: string, cache: SpfCache<SpfOutcome> | undefined): Promise<SpfOutcome> {
  const check = () => checkSpf(resolve, facts, sender);
  return cache === undefined ? check() : cache.get(facts.ip, sender, facts.helo, check);
}
