// The program's one DNS stub resolver: configured servers or resolv.conf's, retries, TCP on truncation, TTL cache, AD bit.
import { domainToASCII } from 'node:url';
import type { Answer } from 'dns-packet';
import { DnsCache } from './dns-cache.js';
import { DnsError, type DnsErrorCode, type RecordType } from './dns-error.js';
import { type DnsResponse, exchange, ExchangeError, sameName } from './dns-exchange.js';
import { type NameServer, parseNameServer, RESOLV_CONF, systemNameServers } from './name-servers.js';
import { type MxRecord, readRecord, type RecordOf, type TlsaRecord, type TxtRecord } from './records.js';

/** The records of one answer, with what the DNS said about them. */
export interface DnsAnswer<T> {
  readonly records: readonly T[];
  /**
   * The AD bit of every response on the way (CNAMEs included): the resolver validated the answer with DNSSEC
   * (RFC 4035 §3.2.3). It means something only when the resolver is trusted to validate and the path to it is
   * safe (a resolver on the same host), RFC 6698 §4.1, RFC 7672 §2.1.
   */
  readonly authenticated: boolean;
  /** Seconds the answer may still be used: the smallest TTL of the records and of the CNAMEs followed. */
  readonly ttl: number;
  /** The name the records are at: the name asked, or the end of its CNAME chain. */
  readonly name: string;
}

export interface DnsResolverOptions {
  /** "192.0.2.53", "::1", "127.0.0.1:5353", "[::1]:5353"; empty: the nameservers of resolv.conf. */
  readonly servers: readonly string[];
  /** How long one server is given for one question, in ms (default 5000, glibc's). */
  readonly timeoutMs?: number;
  /** Rounds over the whole server list before giving up (default 2, glibc's `attempts`). */
  readonly attempts?: number;
  /** Answers remembered at most (default 10,000); the least recently used goes first. */
  readonly cacheSize?: number;
  /** Longest a positive answer is remembered, in seconds (default one day), whatever its TTL. */
  readonly maxTtl?: number;
  /** Longest a denial is remembered, in seconds (default one hour; RFC 2308 §5 suggests one to three). */
  readonly maxNegativeTtl?: number;
  /** The cache's clock (ms); Date.now unless a test drives it. */
  readonly now?: () => number;
  /** The file read when `servers` is empty (default /etc/resolv.conf). */
  readonly resolvConf?: string;
  /** Aborts every lookup in flight (shutdown). */
  readonly signal?: AbortSignal;
  /**
   * Told of every lookup that went to the network (not answered from the cache), with its result: "ok", "nxdomain",
   * "nodata" or "error" (for the metrics).
   */
  readonly onLookup?: (type: RecordType, result: 'ok' | 'nxdomain' | 'nodata' | 'error') => void;
}

/** A chain longer than this is a loop or an abuse (BIND and Unbound stop around there too). */
const MAX_CNAME_HOPS = 8;

/** What one lookup ends with, before it is handed out or thrown. */
type Outcome =
  | { readonly kind: 'records'; readonly records: readonly unknown[]; readonly name: string; readonly authenticated: boolean; readonly ttl: number }
  | { readonly kind: 'denial'; readonly code: 'ENOTFOUND' | 'ENODATA'; readonly authenticated: boolean; readonly ttl: number };

const RCODE_ERRORS: Readonly<Record<string, DnsErrorCode>> = {
  SERVFAIL: 'ESERVFAIL',
  REFUSED: 'EREFUSED',
  FORMERR: 'EFORMERR',
  NOTIMP: 'ENOTIMP',
};

/**
 * A stub resolver (RFC 1034 §5.3.1): it asks recursive resolvers, never the authoritative servers itself, and
 * validates nothing: DNSSEC is the resolver's job, and its verdict comes back in the AD bit. Each question goes
 * over UDP from a random port with a random id, and over TCP when the answer is truncated. Servers are asked in
 * order, `attempts` times round; SERVFAIL, REFUSED, a timeout or an unreachable server move on to the next one.
 * Answers and denials are cached per (type, name) for their TTL; concurrent lookups of the same question share
 * one query.
 */
export class DnsResolver {
  private readonly configured: readonly NameServer[];
  private system: Promise<readonly NameServer[]> | null = null;
  private readonly cache: DnsCache;
  private readonly inflight = new Map<string, Promise<Outcome>>();
  private readonly timeoutMs: number;
  private readonly attempts: number;
  private readonly maxTtl: number;
  private readonly maxNegativeTtl: number;

  constructor(private readonly opts: DnsResolverOptions) {
    this.configured = opts.servers.map(parseNameServer);
    this.cache = new DnsCache(opts.cacheSize ?? 10_000, opts.now ?? Date.now);
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.attempts = Math.max(1, opts.attempts ?? 2);
    this.maxTtl = opts.maxTtl ?? 86_400;
    this.maxNegativeTtl = opts.maxNegativeTtl ?? 3600;
  }

  /** The servers asked, in order: the configured ones, else resolv.conf's (read once). */
  nameServers(): Promise<readonly NameServer[]> {
    if (this.configured.length > 0) return Promise.resolve(this.configured);
    this.system ??= systemNameServers(this.opts.resolvConf ?? RESOLV_CONF);
    return this.system;
  }

  /**
   * The records of `type` at `name`, following CNAMEs. Throws DnsError: ENOTFOUND (NXDOMAIN), ENODATA (the name
   * has no such records), EBADNAME, or a temporary code (ESERVFAIL, ETIMEOUT, EREFUSED, ECONNREFUSED…).
   */
  async query<T extends RecordType>(name: string, type: T): Promise<DnsAnswer<RecordOf[T]>> {
    const qname = queryName(name, type);
    const key = `${type} ${qname}`;
    const hit = this.cache.get(key);
    let outcome: Outcome;
    if (hit !== undefined) {
      outcome = hit.answer.kind === 'records' ? { ...hit.answer, ttl: hit.ttl } : { ...hit.answer, ttl: hit.ttl };
    } else {
      let pending = this.inflight.get(key);
      if (pending === undefined) {
        pending = this.lookup(qname, type, name).finally(() => this.inflight.delete(key));
        const report = this.opts.onLookup;
        if (report !== undefined) {
          pending.then(
            (o) => report(type, o.kind === 'records' ? 'ok' : o.code === 'ENOTFOUND' ? 'nxdomain' : 'nodata'),
            () => report(type, 'error'),
          );
        }
        this.inflight.set(key, pending);
      }
      outcome = await pending;
    }
    if (outcome.kind === 'denial') throw new DnsError(outcome.code, name, type, outcome.authenticated, outcome.ttl);
    return { records: outcome.records as RecordOf[T][], authenticated: outcome.authenticated, ttl: outcome.ttl, name: outcome.name };
  }

  mx(name: string): Promise<DnsAnswer<MxRecord>> {
    return this.query(name, 'MX');
  }

  a(name: string): Promise<DnsAnswer<string>> {
    return this.query(name, 'A');
  }

  aaaa(name: string): Promise<DnsAnswer<string>> {
    return this.query(name, 'AAAA');
  }

  txt(name: string): Promise<DnsAnswer<TxtRecord>> {
    return this.query(name, 'TXT');
  }

  /** TLSA records, e.g. at "_25._tcp.mx.example.org" (RFC 6698 §3, RFC 7672 §2.2.3). */
  tlsa(name: string): Promise<DnsAnswer<TlsaRecord>> {
    return this.query(name, 'TLSA');
  }

  /** PTR records of a reverse name ("1.2.0.192.in-addr.arpa"; see reverseName()). */
  ptr(name: string): Promise<DnsAnswer<string>> {
    return this.query(name, 'PTR');
  }

  /** The CNAME record of `name` itself (not followed). */
  cname(name: string): Promise<DnsAnswer<string>> {
    return this.query(name, 'CNAME');
  }

  ns(name: string): Promise<DnsAnswer<string>> {
    return this.query(name, 'NS');
  }

  /** Asks until the records are found, the DNS denies them, or the CNAME chain runs too long; caches the outcome. */
  private async lookup(qname: string, type: RecordType, asked: string): Promise<Outcome> {
    const key = `${type} ${qname}`;
    let current = qname;
    let ttl = this.maxTtl;
    let authenticated = true;
    const seen = new Set<string>([qname]);
    for (let hop = 0; hop <= MAX_CNAME_HOPS; hop++) {
      const p = await this.ask(current, type, asked);
      authenticated &&= p.flag_ad;
      const chain = followChain(p.answers ?? [], current, type);
      ttl = Math.min(ttl, chain.ttl);
      const records = chain.records.map((a) => readRecord(type, a)).filter((r) => r !== undefined);
      if (records.length > 0) {
        const outcome = { kind: 'records', records, name: chain.name, authenticated, ttl } as const;
        this.cache.set(key, outcome, ttl);
        return outcome;
      }
      // RFC 6604 §3: with a CNAME chain, the rcode speaks of the chain's last name; so does our denial.
      const denial = p.rcode === 'NXDOMAIN' ? 'ENOTFOUND' : chain.name === current || type === 'CNAME' ? 'ENODATA' : null;
      if (denial !== null) {
        const outcome = { kind: 'denial', code: denial, authenticated, ttl: Math.min(ttl, negativeTtl(p), this.maxNegativeTtl) } as const;
        this.cache.set(key, outcome, outcome.ttl);
        return outcome;
      }
      // The answer stopped at a CNAME whose target it does not cover: ask for the target.
      if (seen.has(chain.name.toLowerCase())) throw new DnsError('EBADRESP', asked, type, false, 0, `CNAME loop at ${chain.name}`);
      seen.add(chain.name.toLowerCase());
      current = chain.name;
    }
    throw new DnsError('EBADRESP', asked, type, false, 0, `more than ${MAX_CNAME_HOPS} CNAMEs`);
  }

  /** One question, to each server in turn until one answers NOERROR or NXDOMAIN. */
  private async ask(name: string, type: RecordType, asked: string): Promise<DnsResponse> {
    const servers = await this.nameServers();
    const q = { name, type };
    let last: DnsError | null = null;
    for (let round = 0; round < this.attempts; round++) {
      for (const server of servers) {
        const exchangeOpts = { timeoutMs: this.timeoutMs, edns: true, ...(this.opts.signal !== undefined ? { signal: this.opts.signal } : {}) };
        let p: DnsResponse;
        try {
          p = await exchange(server, q, exchangeOpts);
          // A server that does not know EDNS answers FORMERR: ask it again without (RFC 6891 §7).
          if (p.rcode === 'FORMERR') p = await exchange(server, q, { ...exchangeOpts, edns: false });
        } catch (err) {
          if (!(err instanceof ExchangeError)) throw err;
          if (this.opts.signal?.aborted === true) throw new DnsError('ETIMEOUT', asked, type, false, 0, 'aborted');
          last = new DnsError(err.code, asked, type, false, 0, err.message);
          continue;
        }
        const rcode = p.rcode ?? 'NOERROR';
        if (rcode === 'NOERROR' || rcode === 'NXDOMAIN') return p;
        last = new DnsError(RCODE_ERRORS[rcode] ?? 'EBADRESP', asked, type, false, 0, `${server.text} answered ${rcode}`);
      }
    }
    throw last ?? new DnsError('ECONNREFUSED', asked, type, false, 0, 'no DNS server to ask');
  }
}

/** The name as asked on the wire: A-labels, lower case, no final dot; EBADNAME when it cannot be a DNS name. */
function queryName(name: string, type: RecordType): string {
  let n = name.trim().replace(/\.$/, '');
  // An internationalised name is asked in its A-label form (RFC 5891 §5); ASCII names are left alone, since
  // domainToASCII would refuse the underscore labels of TLSA and DKIM names.
  if (/[^\x00-\x7f]/.test(n)) n = domainToASCII(n);
  n = n.toLowerCase();
  const labels = n.split('.');
  if (n === '' || n.length > 253 || labels.some((l) => l.length === 0 || l.length > 63)) {
    throw new DnsError('EBADNAME', name, type, false, 0, 'not a valid DNS name');
  }
  return n;
}

/**
 * Walks the answer section from `start` through CNAMEs to the records of `type`. Returns them (maybe none), the
 * name reached, and the smallest TTL met on the way (RFC 2181 §5.2: an RRset's TTLs are equal; we take the least).
 */
function followChain(answers: readonly Answer[], start: string, type: RecordType): { records: Answer[]; name: string; ttl: number } {
  let name = start;
  let ttl = Number.MAX_SAFE_INTEGER;
  const visited = new Set<string>();
  for (;;) {
    const here = answers.filter((a) => a.type === type && sameName(a.name, name));
    if (here.length > 0) return { records: here, name, ttl: Math.min(ttl, ...here.map(ttlOf)) };
    if (type === 'CNAME') return { records: [], name, ttl };
    const cname = answers.find((a) => a.type === 'CNAME' && sameName(a.name, name));
    const target = (cname as { data?: unknown } | undefined)?.data;
    if (cname === undefined || typeof target !== 'string' || visited.has(target.toLowerCase())) return { records: [], name, ttl };
    visited.add(name.toLowerCase());
    ttl = Math.min(ttl, ttlOf(cname));
    name = target.replace(/\.$/, '');
  }
}

const ttlOf = (a: Answer): number => (a as { ttl?: number }).ttl ?? 0;

/** RFC 2308 §5: a denial lives as long as the smaller of the SOA's TTL and its MINIMUM field; without a SOA, not at all. */
function negativeTtl(p: DnsResponse): number {
  const soa = (p.authorities ?? []).find((a) => a.type === 'SOA') as { ttl?: number; data?: { minimum?: number } } | undefined;
  if (soa === undefined) return 0;
  return Math.min(soa.ttl ?? 0, soa.data?.minimum ?? 0);
}
