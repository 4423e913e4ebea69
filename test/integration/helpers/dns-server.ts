// A tiny authoritative DNS server on loopback (UDP, dns2) that answers from a zone given by the test.
import dns2 from 'dns2';

const { Packet } = dns2;

/** What one name holds. A name absent from the zone is NXDOMAIN; a type absent from a name is NODATA. */
export interface ZoneEntry {
  readonly MX?: readonly { readonly exchange: string; readonly priority: number }[];
  readonly A?: readonly string[];
  readonly AAAA?: readonly string[];
  /** Answer SERVFAIL for every question about this name. */
  readonly servfail?: boolean;
  /** Never answer questions about this name (the asker times out). */
  readonly drop?: boolean;
}

/** Names are matched case-insensitively, with or without the final dot. */
export type Zone = Readonly<Record<string, ZoneEntry>>;

export interface DnsServer {
  /** "127.0.0.1:PORT", ready for MxResolver's `servers` or node:dns setServers(). */
  readonly address: string;
  /** Every question received, as "name TYPE" (e.g. "example.org MX"), for tests that check what was asked. */
  readonly questions: readonly string[];
  /** Resolves once `question` ("name TYPE") has been received from now on (rejects after timeoutMs, default 10 s). */
  waitForQuestion(question: string, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

const RCODE = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3 } as const;
const TYPE_NAMES: Readonly<Record<number, string>> = { [Packet.TYPE.A]: 'A', [Packet.TYPE.AAAA]: 'AAAA', [Packet.TYPE.MX]: 'MX' };

/**
 * Starts the server on 127.0.0.1, UDP and TCP on the same ephemeral port (resolvers such as rspamd's ask some
 * questions over TCP, RFC 7766). The zone is read at each question, so a test may change it in place.
 */
export async function startDnsServer(zone: Zone): Promise<DnsServer> {
  const byName = (name: string): ZoneEntry | undefined => {
    const wanted = name.toLowerCase().replace(/\.$/, '');
    const key = Object.keys(zone).find((k) => k.toLowerCase().replace(/\.$/, '') === wanted);
    return key === undefined ? undefined : zone[key];
  };
  const questions: string[] = [];
  const watchers = new Set<(question: string) => void>();
  const handle: dns2.DnsHandler = (request, send) => {
    const response = Packet.createResponseFromRequest(request);
    response.header.aa = 1;
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
    for (const w of [...watchers]) w(asked);
    const entry = byName(question.name);
    if (entry?.drop === true) return;
    if (entry === undefined) response.header.rcode = RCODE.NXDOMAIN;
    else if (entry.servfail === true) response.header.rcode = RCODE.SERVFAIL;
    else response.answers = answers(question, entry);
    void send(response);
  };
  const { udp, tcp, port } = await bindBoth(handle);
  const waitForQuestion = (wanted: string, timeoutMs = 10_000): Promise<void> =>
    new Promise((resolve, reject) => {
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
    });
  const close = async (): Promise<void> => {
    await new Promise<void>((resolve) => udp.close(() => resolve()));
    await new Promise<void>((resolve) => tcp.close(() => resolve()));
  };
  return { address: `127.0.0.1:${port}`, questions, waitForQuestion, close };
}

/** A UDP socket on an ephemeral port, then a TCP listener on the same number (another port if that one is taken). */
async function bindBoth(handle: dns2.DnsHandler): Promise<{ udp: dns2.UDPServer; tcp: dns2.TCPServer; port: number }> {
  for (let attempt = 0; ; attempt++) {
    const udp = new dns2.UDPServer(handle);
    await udp.listen(0, '127.0.0.1');
    const port = udp.address().port;
    const tcp = new dns2.TCPServer(handle);
    const bound = await new Promise<boolean>((resolve) => {
      tcp.once('error', () => resolve(false));
      tcp.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (bound) return { udp, tcp, port };
    await new Promise<void>((resolve) => udp.close(() => resolve()));
    if (attempt === 5) throw new Error('could not bind UDP and TCP on one port');
  }
}

function answers(question: dns2.Packet.Question, entry: ZoneEntry): dns2.Packet.Resource[] {
  const base = { name: question.name, class: Packet.CLASS.IN, ttl: 60 };
  switch (question.type) {
    case Packet.TYPE.MX:
      // An exchange "" or "." is encoded as the root name: a null MX (RFC 7505).
      return (entry.MX ?? []).map((mx) =>
        Packet.createResourceFromQuestion(question, { ...base, type: Packet.TYPE.MX, exchange: mx.exchange, priority: mx.priority }),
      );
    case Packet.TYPE.A:
      return (entry.A ?? []).map((address) => Packet.createResourceFromQuestion(question, { ...base, type: Packet.TYPE.A, address }));
    case Packet.TYPE.AAAA:
      return (entry.AAAA ?? []).map((address) => Packet.createResourceFromQuestion(question, { ...base, type: Packet.TYPE.AAAA, address }));
    default:
      return [];
  }
}
