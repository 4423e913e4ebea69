// The record types the resolver hands out, and their reading from dns-packet's decoded answers.
import net from 'node:net';
import type { Answer } from 'dns-packet';
import type { RecordType } from './dns-error.js';

export interface MxRecord {
  /** The exchange's name, no final dot; "" or "." for a null MX (RFC 7505). */
  readonly exchange: string;
  readonly preference: number;
}

/** A TLSA record (RFC 6698 §2.1): certificate usage, selector, matching type, and the association data. */
export interface TlsaRecord {
  readonly usage: number;
  readonly selector: number;
  readonly matchingType: number;
  readonly data: Buffer;
}

/** One TXT record: its character-strings, in order (RFC 1035 §3.3.14). Readers of SPF, DKIM, MTA-STS join them. */
export type TxtRecord = readonly string[];

/** What each query type yields per record. */
export interface RecordOf {
  A: string;
  AAAA: string;
  MX: MxRecord;
  TXT: TxtRecord;
  TLSA: TlsaRecord;
  PTR: string;
  CNAME: string;
  NS: string;
}

const noDot = (name: string): string => (name === '.' ? '' : name.replace(/\.$/, ''));

/** The record in our shape, or undefined when the answer's data is not what its type promises (skipped). */
export function readRecord<T extends RecordType>(type: T, a: Answer): RecordOf[T] | undefined {
  const data: unknown = (a as { data?: unknown }).data;
  switch (type) {
    case 'A':
      return (typeof data === 'string' && net.isIPv4(data) ? data : undefined) as RecordOf[T] | undefined;
    case 'AAAA':
      return (typeof data === 'string' && net.isIPv6(data) ? data : undefined) as RecordOf[T] | undefined;
    case 'PTR':
    case 'CNAME':
    case 'NS':
      return (typeof data === 'string' ? noDot(data) : undefined) as RecordOf[T] | undefined;
    case 'MX': {
      const mx = data as { exchange?: unknown; preference?: unknown } | undefined;
      if (typeof mx?.exchange !== 'string' || typeof mx.preference !== 'number') return undefined;
      return { exchange: noDot(mx.exchange), preference: mx.preference } as RecordOf[T];
    }
    case 'TXT': {
      const chunks = Array.isArray(data) ? data : [data];
      // latin1 maps each octet to one character, as node:dns does: nothing is lost, and what was ASCII stays ASCII.
      return chunks.map((c) => (Buffer.isBuffer(c) ? c.toString('latin1') : String(c))) as unknown as RecordOf[T];
    }
    case 'TLSA': {
      const t = data as { usage?: unknown; selector?: unknown; matchingType?: unknown; certificate?: unknown } | undefined;
      if (typeof t?.usage !== 'number' || typeof t.selector !== 'number' || typeof t.matchingType !== 'number' || !Buffer.isBuffer(t.certificate)) return undefined;
      return { usage: t.usage, selector: t.selector, matchingType: t.matchingType, data: Buffer.from(t.certificate) } as RecordOf[T];
    }
    default:
      return undefined;
  }
}

/** "192.0.2.1" → "1.2.0.192.in-addr.arpa", "2001:db8::1" → "1.0.0.0…8.b.d.0.1.0.0.2.ip6.arpa" (RFC 1035 §3.5, RFC 3596 §2.5). */
export function reverseName(ip: string): string {
  if (net.isIPv4(ip)) return `${ip.split('.').reverse().join('.')}.in-addr.arpa`;
  if (!net.isIPv6(ip)) throw new Error(`not an IP address: ${ip}`);
  const [head = '', tail = ''] = ip.split('::');
  const groups = (s: string): string[] => (s === '' ? [] : s.split(':'));
  let parts = [...groups(head), ...groups(tail)];
  // An embedded IPv4 address ("::ffff:192.0.2.1") is two groups.
  const last = parts[parts.length - 1] ?? '';
  if (net.isIPv4(last)) {
    const [a, b, c, d] = last.split('.').map(Number) as [number, number, number, number];
    parts = [...parts.slice(0, -1), ((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
  }
  const missing = 8 - parts.length;
  const full = ip.includes('::') ? [...groups(head), ...Array<string>(missing).fill('0'), ...parts.slice(groups(head).length)] : parts;
  const nibbles = full.map((g) => g.padStart(4, '0')).join('');
  return `${[...nibbles].reverse().join('.')}.ip6.arpa`;
}
