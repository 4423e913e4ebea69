// A tiny DNS server on loopback (dns2, UDP and TCP on one port) answering from a zone given by the test, like a
// validating recursive resolver would: CNAMEs followed, the AD bit set per name, SOA in denials for negative caching.
import net from 'node:net';
import dns2 from 'dns2';

const { Packet } = dns2;

/** A TLSA record (RFC 6698 §2.1); data as a Buffer or in hex. */
export interface ZoneTlsa {
  readonly usage: number;
  readonly selector: number;
  readonly matchingType: number;
  readonly data: Buffer | string;
}

/** What one name holds. A name absent from the zone is NXDOMAIN; a type absent from a name is NODATA. */
export interface ZoneEntry {
  readonly MX?: readonly { readonly exchange: string; readonly priority: number }[];
  readonly A?: readonly string[];
  readonly AAAA?: readonly string[];
  /** One entry per TXT record; a string longer than 255 octets is sent as several character-strings (RFC 1035 §3.3.14). */
  readonly TXT?: readonly (string | readonly string[])[];
  readonly TLSA?: readonly ZoneTlsa[];
  readonly PTR?: readonly string[];
  /** The name is an alias: every question but CNAME gets this record, then the target's answer. */
  readonly CNAME?: string;
  /** TTL of this name's records, in seconds (default 60). */
  readonly ttl?: number;
  /** Set the AD bit on answers about this name (a validating resolver found them secure). Default false. */
  readonly ad?: boolean;
  /** Answer SERVFAIL for every question about this name. */
  readonly servfail?: boolean;
  /** Never answer questions about this name (the client times out). */
  readonly silent?: boolean;
  /** The same as silent (the blocklist tests' word for it). */
  readonly drop?: boolean;
  /** Over UDP answer with no records and the TC bit, so that the client must ask again over TCP. */
  readonly truncate?: boolean;
}

/** Names are matched case-insensitively, with or without the final dot. */
export type Zone = Readonly<Record<string, ZoneEntry>>;

export interface DnsServerOptions {
  /**
   * Put a SOA record with this TTL (and MINIMUM) in the authority section of NXDOMAIN and NODATA answers, so a
   * client may cache the denial (RFC 2308 §5). Default: no SOA, so denials are not cached.
   */
  readonly negativeTtl?: number;
  /** Set the AD bit on denials (authenticated denial of existence). Default false. */
  readonly adOnDenial?: boolean;
}

export interface DnsServer {
  /** "127.0.0.1:PORT" (UDP and TCP), ready for `dns_servers`, DnsResolver, MxResolver or node:dns setServers(). */
  readonly address: string;
  /** Every question received, as "name TYPE" (e.g. "example.org MX"), for tests that check what was asked. */
  readonly questions: readonly string[];
  /** The questions that came over TCP, same format. */
  readonly tcpQuestions: readonly string[];
  /** Resolves when the question "name TYPE" arrives (case-insensitive); rejects after timeoutMs. */
  waitForQuestion(question: string, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

const RCODE = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3 } as const;
const TLSA_TYPE = 52;
const TYPE_NAMES: Readonly<Record<number, string>> = {
  [Packet.TYPE.A]: 'A',
  [Packet.TYPE.AAAA]: 'AAAA',
  [Packet.TYPE.MX]: 'MX',
  [Packet.TYPE.TXT]: 'TXT',
  [Packet.TYPE.PTR]: 'PTR',
  [Packet.TYPE.CNAME]: 'CNAME',
  [TLSA_TYPE]: 'TLSA',
};

type Question = dns2.Packet.Question;
type Resource = dns2.Packet.Resource;

/**
 * Starts the server on 127.0.0.1, UDP and TCP on the same port (a client retries a truncated answer over TCP at
 * the same address). The zone is read at each question, so a test may change it in place.
 */
export async function startDnsServer(zone: Zone, opts: DnsServerOptions = {}): Promise<DnsServer> {
  const byName = (name: string): ZoneEntry | undefined => {
    const wanted = name.toLowerCase().replace(/\.$/, '');
    const key = Object.keys(zone).find((k) => k.toLowerCase().replace(/\.$/, '') === wanted);
    return key === undefined ? undefined : zone[key];
  };
  const questions: string[] = [];
  const tcpQuestions: string[] = [];
  const watchers = new Set<(question: string) => void>();
  const handle: dns2.DnsHandler = (request, send, client) => {
    const tcp = client instanceof net.Socket;
    const response = Packet.createResponseFromRequest(request);
    // dns2 writes the AD bit (RFC 4035 §3.2.3) but its types do not declare it.
    const header = response.header as typeof response.header & { ad: number };
    // RFC 6891 §7: a server that understands EDNS answers a query carrying an OPT record with one of its own
    // (rspamd's resolver takes an answer without it for a failure, and waits for its timeout).
    response.additionals = request.additionals.filter((r) => r.type === Packet.TYPE.EDNS);
    const question = request.questions[0];
    if (question === undefined) {
      response.header.rcode = RCODE.SERVFAIL;
      void send(response);
      return;
    }
    const asked = `${question.name} ${TYPE_NAMES[question.type] ?? question.type}`;
    questions.push(asked);
    if (tcp) tcpQuestions.push(asked);
    for (const w of [...watchers]) w(asked);
    const result = resolve(question, byName, 0);
    if (result === 'silent') return;
    response.header.rcode = result.rcode;
    header.ad = result.ad ? 1 : 0;
    response.answers = result.answers;
    if (result.rcode !== RCODE.SERVFAIL && result.answers.every((a) => a.type !== question.type) && opts.negativeTtl !== undefined) {
      response.authorities = [soa(question.name, opts.negativeTtl)];
      if (opts.adOnDenial === true) header.ad = 1;
    }
    if (!tcp && result.truncate) {
      response.header.tc = 1;
      response.answers = [];
      response.authorities = [];
    }
    void send(response);
  };
  const { udp, tcp, port } = await bindBoth(handle);
  return {
    address: `127.0.0.1:${port}`,
    questions,
    tcpQuestions,
    waitForQuestion: (wanted, timeoutMs = 10_000) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          watchers.delete(watcher);
          reject(new Error(`no DNS question "${wanted}" within ${timeoutMs} ms`));
        }, timeoutMs);
        const watcher = (asked: string): void => {
          if (asked.toLowerCase() !== wanted.toLowerCase()) return;
          clearTimeout(timer);
          watchers.delete(watcher);
          resolve();
        };
        watchers.add(watcher);
      }),
    close: async () => {
      await Promise.all([udp.close(), tcp.close()]);
    },
  };
}

/**
 * UDP on a free port, then TCP on the same number. That TCP port may be taken (by another test's connection), so
 * on a failure both are closed and another UDP port is tried.
 */
async function bindBoth(handle: dns2.DnsHandler): Promise<{ udp: dns2.DnsServer; tcp: dns2.DnsServer; port: number }> {
  for (let tries = 0; ; tries++) {
    const udp = dns2.createServer({ udp: true, handle });
    const bound = await udp.listen({ udp: { port: 0, address: '127.0.0.1' } });
    const port = bound.udp?.port;
    if (port === undefined) throw new Error('the DNS server did not bind a UDP port');
    const tcp = dns2.createServer({ tcp: true, handle });
    // dns2's listen() only resolves on success: an EADDRINUSE comes as an 'error' event instead.
    const failed = new Promise<Error>((resolve) => tcp.once('error', resolve));
    const outcome = await Promise.race([tcp.listen({ tcp: { port, address: '127.0.0.1' } }).then(() => null), failed]);
    if (outcome === null) return { udp, tcp, port };
    await udp.close();
    if (tries >= 10) throw outcome;
  }
}

type Result = { rcode: number; ad: boolean; truncate: boolean; answers: Resource[] } | 'silent';

/** The answer a validating resolver would give: the records, or the CNAME and then the target's answer. */
function resolve(question: Question, byName: (name: string) => ZoneEntry | undefined, depth: number): Result {
  const entry = byName(question.name);
  if (entry === undefined) return { rcode: RCODE.NXDOMAIN, ad: false, truncate: false, answers: [] };
  if (entry.silent === true || entry.drop === true) return 'silent';
  if (entry.servfail === true) return { rcode: RCODE.SERVFAIL, ad: false, truncate: false, answers: [] };
  const ad = entry.ad === true;
  const truncate = entry.truncate === true;
  if (entry.CNAME !== undefined && question.type !== Packet.TYPE.CNAME) {
    const alias = resource(question, entry, { type: Packet.TYPE.CNAME, domain: entry.CNAME });
    if (depth > 8) return { rcode: RCODE.SERVFAIL, ad: false, truncate, answers: [] };
    const next = resolve({ ...question, name: entry.CNAME }, byName, depth + 1);
    if (next === 'silent') return next;
    return { rcode: next.rcode, ad: ad && next.ad, truncate: truncate || next.truncate, answers: [alias, ...next.answers] };
  }
  return { rcode: RCODE.NOERROR, ad, truncate, answers: records(question, entry) };
}

function resource(question: Question, entry: ZoneEntry, record: Record<string, unknown>): Resource {
  return Packet.createResourceFromQuestion(question, { name: question.name, class: Packet.CLASS.IN, ttl: entry.ttl ?? 60, ...record });
}

function records(question: Question, entry: ZoneEntry): Resource[] {
  const make = (record: Record<string, unknown>): Resource => resource(question, entry, record);
  switch (question.type) {
    case Packet.TYPE.MX:
      // An exchange "" or "." is encoded as the root name: a null MX (RFC 7505).
      return (entry.MX ?? []).map((mx) => make({ type: Packet.TYPE.MX, exchange: mx.exchange, priority: mx.priority }));
    case Packet.TYPE.A:
      return (entry.A ?? []).map((address) => make({ type: Packet.TYPE.A, address }));
    case Packet.TYPE.AAAA:
      return (entry.AAAA ?? []).map((address) => make({ type: Packet.TYPE.AAAA, address }));
    case Packet.TYPE.TXT:
      return (entry.TXT ?? []).map((data) => make({ type: Packet.TYPE.TXT, data: typeof data === 'string' ? characterStrings(data) : [...data] }));
    case Packet.TYPE.PTR:
      return (entry.PTR ?? []).map((domain) => make({ type: Packet.TYPE.PTR, domain }));
    case Packet.TYPE.CNAME:
      return entry.CNAME === undefined ? [] : [make({ type: Packet.TYPE.CNAME, domain: entry.CNAME })];
    case TLSA_TYPE:
      // dns2 has no TLSA encoder: it writes a record's raw `data` as the RDATA (RFC 6698 §2.1 wire format).
      return (entry.TLSA ?? []).map((t) =>
        make({ type: TLSA_TYPE, data: Buffer.concat([Buffer.from([t.usage, t.selector, t.matchingType]), typeof t.data === 'string' ? Buffer.from(t.data, 'hex') : t.data]) }),
      );
    default:
      return [];
  }
}

/** A TXT value as character-strings of at most 255 octets. */
function characterStrings(value: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < value.length; i += 255) out.push(value.slice(i, i + 255));
  return out.length === 0 ? [''] : out;
}

/** The SOA of a denial (RFC 2308 §3): its TTL and MINIMUM both `ttl`, so the negative TTL is `ttl`. */
function soa(name: string, ttl: number): Resource {
  const zoneName = name.split('.').slice(-2).join('.');
  return new Packet.Resource({
    name: zoneName,
    type: Packet.TYPE.SOA,
    class: Packet.CLASS.IN,
    ttl,
    primary: `ns.${zoneName}`,
    admin: `hostmaster.${zoneName}`,
    serial: 1,
    refresh: 3600,
    retry: 600,
    expiration: 86400,
    minimum: ttl,
  } as never);
}
