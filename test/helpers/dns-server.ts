// A tiny authoritative DNS server on loopback (UDP, dns2) that answers from a zone given by the test.
import dns2 from 'dns2';

const { Packet } = dns2;

/** What one name holds. A name absent from the zone is NXDOMAIN; a type absent from a name is NODATA. */
export interface ZoneEntry {
  readonly MX?: readonly { readonly exchange: string; readonly priority: number }[];
  readonly A?: readonly string[];
  readonly AAAA?: readonly string[];
  /** One entry per TXT record; a string longer than 255 octets is sent as several character-strings (RFC 1035 §3.3.14). */
  readonly TXT?: readonly (string | readonly string[])[];
  /** Answer SERVFAIL for every question about this name. */
  readonly servfail?: boolean;
}

/** Names are matched case-insensitively, with or without the final dot. */
export type Zone = Readonly<Record<string, ZoneEntry>>;

export interface DnsServer {
  /** "127.0.0.1:PORT", ready for MxResolver's `servers` or node:dns setServers(). */
  readonly address: string;
  /** Every question received, as "name TYPE" (e.g. "example.org MX"), for tests that check what was asked. */
  readonly questions: readonly string[];
  close(): Promise<void>;
}

const RCODE = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3 } as const;
const TYPE_NAMES: Readonly<Record<number, string>> = { [Packet.TYPE.A]: 'A', [Packet.TYPE.AAAA]: 'AAAA', [Packet.TYPE.MX]: 'MX', [Packet.TYPE.TXT]: 'TXT' };

/** Starts the server on UDP 127.0.0.1, port 0. The zone is read at each question, so a test may change it in place. */
export async function startDnsServer(zone: Zone): Promise<DnsServer> {
  const byName = (name: string): ZoneEntry | undefined => {
    const wanted = name.toLowerCase().replace(/\.$/, '');
    const key = Object.keys(zone).find((k) => k.toLowerCase().replace(/\.$/, '') === wanted);
    return key === undefined ? undefined : zone[key];
  };
  const questions: string[] = [];
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
      questions.push(`${question.name} ${TYPE_NAMES[question.type] ?? question.type}`);
      const entry = byName(question.name);
      if (entry === undefined) response.header.rcode = RCODE.NXDOMAIN;
      else if (entry.servfail === true) response.header.rcode = RCODE.SERVFAIL;
      else response.answers = answers(question, entry);
      void send(response);
    },
  });
  const bound = await server.listen({ udp: { port: 0, address: '127.0.0.1' } });
  const port = bound.udp?.port;
  if (port === undefined) throw new Error('the DNS server did not bind a UDP port');
  return { address: `127.0.0.1:${port}`, questions, close: () => server.close() };
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
    case Packet.TYPE.TXT:
      return (entry.TXT ?? []).map((record) =>
        Packet.createResourceFromQuestion(question, { ...base, type: Packet.TYPE.TXT, data: typeof record === 'string' ? characterStrings(record) : [...record] }),
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
