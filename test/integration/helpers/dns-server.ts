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

/** Starts the server on UDP 127.0.0.1, port 0. The zone is read at each question, so a test may change it in place. */
export async function startDnsServer(zone: Zone): Promise<DnsServer> {
  const byName = (name: string): ZoneEntry | undefined => {
    const wanted = name.toLowerCase().replace(/\.$/, '');
    const key = Object.keys(zone).find((k) => k.toLowerCase().replace(/\.$/, '') === wanted);
    return key === undefined ? undefined : zone[key];
  };
  const questions: string[] = [];
  const watchers = new Set<(question: string) => void>();
  const server = dns2.createServer({
    udp: true,
    handle: (request, send) => {
      const response = Packet.createResponseFromRequest(request);
      response.header.aa = 1;
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
    },
  });
  const bound = await server.listen({ udp: { port: 0, address: '127.0.0.1' } });
  const port = bound.udp?.port;
  if (port === undefined) throw new Error('the DNS server did not bind a UDP port');
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
  return { address: `127.0.0.1:${port}`, questions, waitForQuestion, close: () => server.close() };
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
