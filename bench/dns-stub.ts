// A tiny authoritative DNS server on loopback (UDP) for the outbound and mail authentication scenarios: MX, A, AAAA and
// TXT (SPF, DKIM keys, DMARC) from a fixed zone.
import { createSocket, type Socket } from 'node:dgram';

export interface ZoneEntry {
  readonly mx?: readonly { readonly preference: number; readonly exchange: string }[];
  readonly a?: readonly string[];
  readonly aaaa?: readonly string[];
  /** One TXT record per entry; a value over 255 octets goes out as several character-strings (RFC 1035 §3.3.14). */
  readonly txt?: readonly string[];
}

/** Owner name (lower case, no trailing dot) → records. A name not here gets NXDOMAIN; a missing type, NODATA. */
export type Zone = Readonly<Record<string, ZoneEntry>>;

const TYPE_A = 1;
const TYPE_MX = 15;
const TYPE_TXT = 16;
const TYPE_AAAA = 28;
const TTL = 300;

export class DnsStub {
  queries = 0;

  private constructor(
    private readonly socket: Socket,
    private readonly zone: Zone,
  ) {}

  static async start(zone: Zone, host = '127.0.0.1'): Promise<DnsStub> {
    const socket = createSocket('udp4');
    const stub = new DnsStub(socket, zone);
    socket.on('message', (msg, peer) => {
      const answer = stub.answer(msg);
      if (answer !== null) socket.send(answer, peer.port, peer.address);
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, host, () => resolve());
    });
    return stub;
  }

  /** "127.0.0.1:PORT", as the config's dns_servers wants it. */
  get address(): string {
    const a = this.socket.address();
    return `${a.address}:${a.port}`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }

  /** The response to one query (RFC 1035 §4.1), or null for a packet we do not understand. */
  private answer(query: Buffer): Buffer | null {
    if (query.length < 12 || (query[2]! & 0x80) !== 0 || query.readUInt16BE(4) !== 1) return null;
    let pos = 12;
    const labels: string[] = [];
    while (pos < query.length && query[pos] !== 0) {
      const len = query[pos]!;
      if (len > 63 || pos + 1 + len > query.length) return null;
      labels.push(query.toString('latin1', pos + 1, pos + 1 + len));
      pos += 1 + len;
    }
    pos++; // the root label
    if (pos + 4 > query.length) return null;
    const qtype = query.readUInt16BE(pos);
    const questionEnd = pos + 4;
    this.queries++;
    const entry = this.zone[labels.join('.').toLowerCase()];
    const records: Buffer[] = [];
    if (entry !== undefined) {
      if (qtype === TYPE_A) for (const ip of entry.a ?? []) records.push(rr(TYPE_A, Buffer.from(ip.split('.').map(Number))));
      if (qtype === TYPE_AAAA) for (const ip of entry.aaaa ?? []) records.push(rr(TYPE_AAAA, ipv6Bytes(ip)));
      if (qtype === TYPE_TXT) for (const text of entry.txt ?? []) records.push(rr(TYPE_TXT, characterStrings(text)));
      if (qtype === TYPE_MX) {
        for (const mx of entry.mx ?? []) {
          const pref = Buffer.alloc(2);
          pref.writeUInt16BE(mx.preference);
          records.push(rr(TYPE_MX, Buffer.concat([pref, encodeName(mx.exchange)])));
        }
      }
    }
    const header = Buffer.alloc(12);
    query.copy(header, 0, 0, 2); // id
    const rd = query[2]! & 0x01;
    header[2] = 0x84 | rd; // QR, AA, RD echoed
    header[3] = entry === undefined ? 3 : 0; // NXDOMAIN or NOERROR
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(records.length, 6);
    return Buffer.concat([header, query.subarray(12, questionEnd), ...records]);
  }
}

/** One answer record whose owner is the question's name (a pointer to offset 12). */
function rr(type: number, rdata: Buffer): Buffer {
  const head = Buffer.alloc(12);
  head.writeUInt16BE(0xc00c, 0);
  head.writeUInt16BE(type, 2);
  head.writeUInt16BE(1, 4); // IN
  head.writeUInt32BE(TTL, 6);
  head.writeUInt16BE(rdata.length, 10);
  return Buffer.concat([head, rdata]);
}

/** A TXT value as length-prefixed character-strings of at most 255 octets. */
function characterStrings(text: string): Buffer {
  const bytes = Buffer.from(text, 'latin1');
  const parts: Buffer[] = [];
  for (let i = 0; i === 0 || i < bytes.length; i += 255) {
    const piece = bytes.subarray(i, i + 255);
    parts.push(Buffer.from([piece.length]), piece);
  }
  return Buffer.concat(parts);
}

function encodeName(name: string): Buffer {
  const parts = name.replace(/\.$/, '').split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')]));
  return Buffer.concat([...parts, Buffer.from([0])]);
}

function ipv6Bytes(ip: string): Buffer {
  const [left = '', right = ''] = ip.split('::');
  const l = left === '' ? [] : left.split(':');
  const r = right === '' ? [] : right.split(':');
  const groups = ip.includes('::') ? [...l, ...Array<string>(8 - l.length - r.length).fill('0'), ...r] : l;
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(Number.parseInt(g, 16), i * 2));
  return out;
}
