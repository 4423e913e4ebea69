// The TLS policy of each MX host of a domain: DANE, MTA-STS, "verify" or opportunistic, in that order of precedence.
import type { DnsResolver } from '../../dns/dns-resolver.js';
import { isDnsError } from '../../dns/dns-error.js';
import { lookupAddresses } from '../../dns/lookup.js';
import type { MtaSts, StsLookup } from './mta-sts.js';
import { policyAllowsMx } from './sts-policy.js';
import { isUsableTlsa, type TlsaRecord } from './tlsa.js';

/** What protects a session, as the attempt's log line says it (`tls_policy`). */
export type TlsPolicyName = 'dane' | 'mta-sts' | 'verify' | 'opportunistic';

/** The policy for one MX host. */
export interface HostTlsPolicy {
  /** The MX host name, as the MX record gives it. */
  readonly host: string;
  readonly policy: TlsPolicyName;
  /**
   * Not to be tried at all, and why: an MTA-STS policy in enforce mode does not list it (RFC 8461 §5), or its TLSA
   * lookup failed (RFC 7672 §2.2: a host whose TLSA records cannot be known is not used). Null: try it.
   */
  readonly skip: string | null;
  /** STARTTLS must succeed, or this host is not used (never plain text). */
  readonly requireTls: boolean;
  /** The certificate must verify (for DANE: match a TLSA record), or this host is not used. */
  readonly requireVerified: boolean;
  /** For DANE: the usable TLSA records; empty when records exist but none is usable (TLS required, not authenticated). */
  readonly tlsa: readonly TlsaRecord[];
  /** The MTA-STS policy that applies to the domain, for mta-sts (and for verify when the policy is in testing mode). */
  readonly sts: { readonly mode: 'enforce' | 'testing'; readonly id: string; readonly mxListed: boolean } | null;
  /** The names the certificate must be valid for: the MX host name (RFC 7672 §3.2.2, RFC 8461 §4.2). */
  readonly names: readonly string[];
}

export interface DomainTlsPolicy {
  readonly domain: string;
  /** One per host given, in the same order. */
  readonly hosts: readonly HostTlsPolicy[];
  /** The domain's MX answer was DNSSEC-authenticated (DANE can apply). */
  readonly mxAuthenticated: boolean;
  /** MTA-STS discovery for the domain (null when MTA-STS is off, or the domain is an address literal). */
  readonly sts: StsLookup | null;
}

export interface TlsPolicySettings {
  /** outbound.tls as written ("verify" asks a verified certificate of every host). */
  readonly tls: 'opportunistic' | 'required' | 'verify';
  /** The port dialled on MX hosts: TLSA records are at _<port>._tcp.<host> (RFC 7672 §2.2.3). */
  readonly port: number;
}

export interface TlsPolicyDeps {
  /** The resolver, when outbound.dane is on; null: DANE off. Its servers must validate DNSSEC (the AD bit). */
  readonly dane: Pick<DnsResolver, 'mx' | 'a' | 'aaaa' | 'tlsa'> | null;
  /** When outbound.mta_sts is on; null: MTA-STS off. */
  readonly mtaSts: Pick<MtaSts, 'policyFor'> | null;
}

type Dane = { readonly tlsa: readonly TlsaRecord[] } | { readonly skip: string } | null;

/**
 * Decides, for `domain` and its MX host names (in the order they will be tried; the domain itself for an implicit
 * MX), the policy of each host:
 * 1. **dane**, when DANE is on, the MX answer was authenticated (RFC 7672 §2.2: otherwise an attacker chose the
 *    hosts), the host's addresses were authenticated (§2.2.2), and its TLSA RRset was authenticated and not empty.
 *    It wins over MTA-STS for that host (RFC 8461 §2). A TLSA lookup that fails (SERVFAIL: bogus, or a timeout)
 *    makes the host skipped. TLSA records that are all unusable still make TLS mandatory, unauthenticated (§3.1.3).
 * 2. **mta-sts**, when the domain has a policy in enforce or testing mode (enforce: the host must be listed, TLS
 *    and a verified certificate are required; testing: failures are reported, delivery goes on).
 * 3. **verify**, when outbound.tls = "verify".
 * 4. **opportunistic** otherwise (outbound.tls = "required" still refuses plain text).
 * Never throws: DNS trouble only ever removes DANE, or skips the one host whose TLSA lookup failed.
 */
export async function decideTlsPolicy(domain: string, hosts: readonly string[], settings: TlsPolicySettings, deps: TlsPolicyDeps): Promise<DomainTlsPolicy> {
  const literal = domain.startsWith('[');
  const [sts, mxAuthenticated] = await Promise.all([
    deps.mtaSts !== null && !literal ? deps.mtaSts.policyFor(domain) : Promise.resolve(null),
    deps.dane !== null && !literal ? mxIsAuthenticated(deps.dane, domain, hosts) : Promise.resolve(false),
  ]);
  const dane = await Promise.all(hosts.map((h) => (mxAuthenticated && deps.dane !== null ? daneFor(deps.dane, h, settings.port) : Promise.resolve(null))));
  return {
    domain,
    mxAuthenticated,
    sts,
    hosts: hosts.map((host, i) => hostPolicy(host, dane[i] ?? null, sts, settings)),
  };
}

function hostPolicy(host: string, dane: Dane, sts: StsLookup | null, settings: TlsPolicySettings): HostTlsPolicy {
  const names = host.startsWith('[') ? [] : [host.replace(/\.$/, '')];
  const base = { host, names, tlsa: [], sts: null, skip: null };
  if (dane !== null) {
    if ('skip' in dane) return { ...base, policy: 'dane', requireTls: true, requireVerified: true, skip: dane.skip };
    return { ...base, policy: 'dane', requireTls: true, requireVerified: dane.tlsa.length > 0, tlsa: dane.tlsa };
  }
  const policy = sts?.policy ?? null;
  const verify = settings.tls === 'verify';
  const required = settings.tls !== 'opportunistic';
  if (policy !== null) {
    const mxListed = policyAllowsMx(policy, host);
    const stsInfo = { mode: policy.mode, id: policy.id, mxListed };
    if (policy.mode === 'enforce') {
      const skip = mxListed ? null : `${host} is not listed in the MTA-STS policy of the domain (mx: ${policy.mx.join(', ')})`;
      return { ...base, policy: 'mta-sts', requireTls: true, requireVerified: true, sts: stsInfo, skip };
    }
    // Testing: report, deliver. outbound.tls = "verify" is stricter than the domain asks, and is what protects the session.
    return { ...base, policy: verify ? 'verify' : 'mta-sts', requireTls: required, requireVerified: verify, sts: stsInfo };
  }
  if (verify) return { ...base, policy: 'verify', requireTls: true, requireVerified: true };
  return { ...base, policy: 'opportunistic', requireTls: required, requireVerified: false };
}

/** The MX RRset was authenticated; for an implicit MX, the denial of MX records was (RFC 7672 §2.2.1). */
async function mxIsAuthenticated(dns: Pick<DnsResolver, 'mx'>, domain: string, hosts: readonly string[]): Promise<boolean> {
  try {
    return (await dns.mx(domain)).authenticated;
  } catch (err) {
    if (!isDnsError(err)) throw err;
    const implicit = hosts.length === 1 && hosts[0]?.toLowerCase().replace(/\.$/, '') === domain.toLowerCase().replace(/\.$/, '');
    return implicit && err.code === 'ENODATA' && err.authenticated;
  }
}

/** The host's DANE status: usable records, a reason to skip it, or null (DANE does not apply). */
async function daneFor(dns: Pick<DnsResolver, 'a' | 'aaaa' | 'tlsa'>, host: string, port: number): Promise<Dane> {
  if (host.startsWith('[')) return null;
  try {
    // RFC 7672 §2.2.2: TLSA records are looked up only for a host whose address records are secure.
    if (!(await lookupAddresses(dns, host)).authenticated) return null;
  } catch {
    return null;
  }
  const name = `_${port}._tcp.${host.replace(/\.$/, '')}`;
  try {
    const answer = await dns.tlsa(name);
    // An insecure TLSA answer is no answer (RFC 7672 §2.2): anyone on the path could have written it.
    if (!answer.authenticated) return null;
    return { tlsa: answer.records.filter(isUsableTlsa) };
  } catch (err) {
    if (!isDnsError(err)) throw err;
    if (!err.temporary) return null; // NXDOMAIN or NODATA: the host does not publish TLSA records.
    return { skip: `TLSA lookup for ${name} failed (${err.code}): host not used (RFC 7672 §2.2)` };
  }
}
