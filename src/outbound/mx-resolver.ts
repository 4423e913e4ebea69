// Where to deliver a domain's mail: MX hosts by preference with their addresses (RFC 5321 §5.1), or why not.
import net from 'node:net';
import { domainToASCII } from 'node:url';
import { DnsResolver } from '../dns/dns-resolver.js';
import { rememberBounded } from '../cache/bounded-map.js';

export interface MxHost {
  /** The exchange's name, or the address literal ("[192.0.2.1]") for a literal domain. */
  readonly name: string;
  readonly preference: number;
  /** AAAA addresses first, then A (IPv6 before IPv4, as the README's "Sending through the relay" says). */
  readonly addresses: readonly string[];
}

export type MxResult =
  | { readonly kind: 'hosts'; readonly hosts: readonly MxHost[] }
  /** The domain cannot receive mail: bounce (NXDOMAIN, null MX, no host with an address). */
  /** `reply`: the reply we would give ourselves, when there is a standard one (RFC 7505 §4.1, RFC 3463). */
  | { readonly kind: 'permanent'; readonly reason: string; readonly reply?: string }
  /** DNS did not answer properly: try again later, never bounce on this. */
  | { readonly kind: 'transient'; readonly reason: string };

export interface MxResolverOptions {
  /** DNS servers as "127.0.0.1:5353" or "[::1]:53"; empty: the system's resolver configuration. Unused with `dns`. */
  readonly servers: readonly string[];
  /** The program's shared resolver (src/dns); without it one is made from `servers`. */
  readonly dns?: Pick<DnsResolver, 'mx' | 'a' | 'aaaa'>;
  /** Per query try, in ms (default 5000). */
  readonly timeoutMs?: number;
  /** Shuffles MX hosts of equal preference (RFC 5321 §5.1); Math.random unless a test pins it. */
  readonly random?: () => number;
  /** How long a domain's hosts are remembered, in ms (default 60 s; 0: never). Failures are never remembered. */
  readonly cacheMs?: number;
  /** The clock for that cache (ms); Date.now unless a test drives it. */
  readonly now?: () => number;
  /** Which addresses of a host come first: "ipv6" (AAAA then A), "ipv4" (A then AAAA), "any" (alternating). */
  readonly addressPreference?: AddressPreference;
}

export type AddressPreference = 'ipv6' | 'ipv4' | 'any';

/** At most this many MX hosts are tried per attempt, as RFC 5321 §5.1 lets a client cap the list. */
export const MAX_MX_HOSTS = 10;

/** Domains remembered at most: past this the oldest entry is forgotten. */
const MAX_CACHED_DOMAINS = 10_000;

/** Answers meaning "this name has nothing of that type" rather than "DNS failed". */
const NO_DATA = new Set(['ENODATA']);
const NO_NAME = new Set(['ENOTFOUND', 'EBADNAME']);

type Lookup<T> = { ok: true; value: T } | { ok: false; missing: boolean; code: string };

export class MxResolver {
  private readonly dns: Pick<DnsResolver, 'mx' | 'a' | 'aaaa'>;
  private readonly preference: AddressPreference;
  private readonly random: () => number;
  private readonly cacheMs: number;
  private readonly now: () => number;
  /**
   * Hosts found per domain, with when they expire. A relay sending many messages to one domain would otherwise
   * ask for its MX, AAAA and A records for each (Postfix leans on a local caching resolver for this). The DNS
   * cache underneath honours the records' TTLs; this one keeps the ordered host list for a fixed short time.
   */
  private readonly cache = new Map<string, { readonly hosts: readonly MxHost[]; readonly expires: number }>();

  constructor(opts: MxResolverOptions) {
    this.preference = opts.addressPreference ?? 'ipv6';
    this.dns =
      opts.dns ??
      new DnsResolver({ servers: opts.servers, timeoutMs: opts.timeoutMs ?? 5000, attempts: 2, ...(opts.now !== undefined ? { now: opts.now } : {}) });
    this.random = opts.random ?? Math.random;
    this.cacheMs = opts.cacheMs ?? 60_000;
    this.now = opts.now ?? Date.now;
  }

  async resolve(domain: string): Promise<MxResult> {
    if (domain.startsWith('[')) return addressLiteral(domain);
    // DNS speaks A-labels: an internationalised domain (SMTPUTF8, RFC 6531) is looked up as punycode.
    const name = domainToASCII(domain.replace(/\.$/, ''));
    if (name === '') return { kind: 'permanent', reason: `invalid domain name ${domain}` };
    const cached = this.cache.get(name);
    if (cached !== undefined && cached.expires > this.now()) {
      // Equal preferences are shuffled again for each message, as a fresh answer would be (RFC 5321 §5.1).
      const hosts = this.order(cached.hosts.map((h) => ({ ...h, priority: h.preference }))).map(({ priority: _, ...h }) => h);
      return { kind: 'hosts', hosts };
    }
    if (cached !== undefined) this.cache.delete(name);
    const result = await this.lookupDomain(name);
    // Only answers are remembered: a failure, above all a transient one, is asked again next time.
    if (result.kind === 'hosts' && this.cacheMs > 0) {
      rememberBounded(this.cache, name, { hosts: result.hosts, expires: this.now() + this.cacheMs }, MAX_CACHED_DOMAINS);
    }
    return result;
  }

  /** MX records, then each exchange's addresses; the implicit MX when there is no MX record. */
  private async lookupDomain(name: string): Promise<MxResult> {
    const mx = await this.lookup(async () => (await this.dns.mx(name)).records.map((r) => ({ exchange: r.exchange, priority: r.preference })));
    if (!mx.ok) {
      if (NO_DATA.has(mx.code)) return this.implicitMx(name);
      if (mx.missing) return { kind: 'permanent', reason: `domain ${name} does not exist (${mx.code})`, reply: '550 5.1.2' };
      return { kind: 'transient', reason: `MX lookup for ${name} failed (${mx.code})` };
    }
    const records = mx.value;
    // Null MX: one record whose exchange is the root ("."), RFC 7505 §3; other records next to it are ignored.
    const real = records.filter((r) => r.exchange !== '' && r.exchange !== '.');
    if (real.length === 0) {
      return records.length > 0
        ? { kind: 'permanent', reason: `domain ${name} accepts no mail (null MX, RFC 7505)`, reply: '556 5.1.10' }
        : this.implicitMx(name);
    }
    const ordered = this.order(real).slice(0, MAX_MX_HOSTS);
    const resolved = await Promise.all(ordered.map((r) => this.addresses(r.exchange)));
    const hosts: MxHost[] = [];
    const failures: string[] = [];
    let transient = false;
    resolved.forEach((res, i) => {
      const r = ordered[i] as { exchange: string; priority: number };
      if (res.kind === 'hosts') hosts.push({ name: r.exchange, preference: r.priority, addresses: res.addresses });
      else {
        failures.push(`${r.exchange}: ${res.reason}`);
        transient ||= res.kind === 'transient';
      }
    });
    if (hosts.length > 0) return { kind: 'hosts', hosts };
    const reason = `no MX host of ${name} has an address (${failures.join('; ')})`;
    return transient ? { kind: 'transient', reason } : { kind: 'permanent', reason };
  }

  /** No MX record: the domain itself is the only host, with preference 0 (RFC 5321 §5.1). */
  private async implicitMx(name: string): Promise<MxResult> {
    const res = await this.addresses(name);
    if (res.kind === 'hosts') return { kind: 'hosts', hosts: [{ name, preference: 0, addresses: res.addresses }] };
    return { kind: res.kind, reason: `no MX for ${name} and ${res.reason}` };
  }

  /** The addresses of one name, AAAA and A, in the order of `addressPreference`. */
  private async addresses(
    name: string,
  ): Promise<{ kind: 'hosts'; addresses: string[] } | { kind: 'permanent' | 'transient'; reason: string }> {
    const [v6, v4] = await Promise.all([
      this.lookup(async () => (await this.dns.aaaa(name)).records),
      this.lookup(async () => (await this.dns.a(name)).records),
    ]);
    const addresses = orderAddresses(v6.ok ? v6.value : [], v4.ok ? v4.value : [], this.preference);
    if (addresses.length > 0) return { kind: 'hosts', addresses };
    const failed = [v6, v4].find((l): l is Extract<typeof l, { ok: false }> => !l.ok && !l.missing);
    if (failed !== undefined) return { kind: 'transient', reason: `address lookup failed (${failed.code})` };
    return { kind: 'permanent', reason: 'no address (AAAA or A)' };
  }

  /** By preference; equal preferences in random order, to spread the load (RFC 5321 §5.1). */
  private order<T extends { priority: number }>(records: readonly T[]): T[] {
    const shuffled = [...records];
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      [shuffled[i], shuffled[j]] = [shuffled[j] as T, shuffled[i] as T];
    }
    // Array.prototype.sort is stable: the shuffle survives among equal preferences.
    return shuffled.sort((a, b) => a.priority - b.priority);
  }

  private async lookup<T>(query: () => Promise<T>): Promise<Lookup<T>> {
    try {
      return { ok: true, value: await query() };
    } catch (err) {
      const code = String((err as { code?: unknown }).code ?? (err as Error).message);
      return { ok: false, missing: NO_DATA.has(code) || NO_NAME.has(code), code };
    }
  }
}

/** "[192.0.2.1]" or "[IPv6:2001:db8::1]" (RFC 5321 §4.1.3): that address, no DNS. */
function addressLiteral(domain: string): MxResult {
  const inner = domain.endsWith(']') ? domain.slice(1, -1) : '';
  const ip = /^ipv6:/i.test(inner) ? inner.slice(5) : inner;
  const ok = inner === ip ? net.isIPv4(ip) : net.isIPv6(ip);
  if (!ok) return { kind: 'permanent', reason: `unusable address literal ${domain}` };
  return { kind: 'hosts', hosts: [{ name: domain, preference: 0, addresses: [ip] }] };
}

/** AAAA and A addresses in the preferred order; "any" alternates them (IPv6 first), so neither family waits behind all of the other's. */
export function orderAddresses(v6: readonly string[], v4: readonly string[], preference: AddressPreference): string[] {
  if (preference === 'ipv6') return [...v6, ...v4];
  if (preference === 'ipv4') return [...v4, ...v6];
  const out: string[] = [];
  for (let i = 0; i < Math.max(v6.length, v4.length); i++) {
    if (i < v6.length) out.push(v6[i]!);
    if (i < v4.length) out.push(v4[i]!);
  }
  return out;
}
