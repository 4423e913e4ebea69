// One question to one server: a UDP datagram from a fresh random port, TCP when the answer comes back truncated.
import { randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket, { type DecodedPacket } from 'dns-packet';
import type { RecordType } from './dns-error.js';
import type { NameServer } from './name-servers.js';

/**
 * The UDP payload size we offer with EDNS0: 1232 octets fits an IPv6 packet without fragmentation (the DNS
 * flag day 2020 value); larger answers come back truncated and are asked again over TCP (RFC 7766 §5).
 */
export const EDNS_UDP_SIZE = 1232;

export interface Question {
  /** A-labels, no final dot. */
  readonly name: string;
  readonly type: RecordType;
}

/** A decoded response; dns-packet sets rcode ("NOERROR", "NXDOMAIN", "SERVFAIL"…) without typing it. */
export type DnsResponse = DecodedPacket & { readonly rcode?: string };

/** The server could not be asked: no answer in time, unreachable, or an answer that is not one. */
export class ExchangeError extends Error {
  constructor(
    readonly code: 'ETIMEOUT' | 'ECONNREFUSED' | 'EBADRESP',
    message: string,
  ) {
    super(message);
    this.name = 'ExchangeError';
  }
}

export interface ExchangeOptions {
  /** For the whole exchange with this server (UDP, then TCP if truncated). */
  readonly timeoutMs: number;
  /**
   * Send an EDNS0 OPT record with the DO bit (RFC 3225): a validating resolver then says in the AD bit whether it
   * validated the answer (RFC 6840 §5.8). Off only to retry a server that answered FORMERR to EDNS (RFC 6891 §7).
   */
  readonly edns: boolean;
  /** Aborts the exchange (shutdown). */
  readonly signal?: AbortSignal;
}

/** Asks `server` one question; resolves with its answer whatever the rcode, rejects with ExchangeError. */
export async function exchange(server: NameServer, q: Question, opts: ExchangeOptions): Promise<DnsResponse> {
  const deadline = AbortSignal.timeout(opts.timeoutMs);
  const signal = opts.signal === undefined ? deadline : AbortSignal.any([deadline, opts.signal]);
  const udp = await overUdp(server, q, opts.edns, signal);
  // TC: the answer did not fit; the same question over TCP gets all of it (RFC 1035 §4.2.1, RFC 7766 §5).
  if (!udp.flag_tc) return udp;
  return overTcp(server, q, opts.edns, signal);
}

function query(q: Question, id: number, edns: boolean): dnsPacket.Packet {
  return {
    type: 'query',
    id,
    // AD in a query asks for the AD bit in the answer even without DO (RFC 6840 §5.7); we send DO as well.
    flags: dnsPacket.RECURSION_DESIRED | dnsPacket.AUTHENTIC_DATA,
    questions: [{ type: q.type, name: q.name, class: 'IN' }],
    additionals: edns ? [{ type: 'OPT', name: '.', udpPayloadSize: EDNS_UDP_SIZE, extendedRcode: 0, ednsVersion: 0, flags: dnsPacket.DNSSEC_OK, flag_do: true, options: [] }] : [],
  };
}

/**
 * Only an answer to our question counts: the same id (random, RFC 5452 §9.2), the response flag, the same
 * question. Anything else is ignored, so a forged datagram has to guess the id and our random source port.
 */
function answers(q: Question, id: number, p: DnsResponse): boolean {
  const asked = p.questions?.[0];
  return p.id === id && p.type === 'response' && asked !== undefined && asked.type === q.type && sameName(asked.name, q.name);
}

export function sameName(a: string, b: string): boolean {
  return a.replace(/\.$/, '').toLowerCase() === b.replace(/\.$/, '').toLowerCase();
}

function aborted(server: NameServer, signal: AbortSignal): ExchangeError {
  const reason: unknown = signal.reason;
  if ((reason as { name?: unknown } | null)?.name === 'TimeoutError') return new ExchangeError('ETIMEOUT', `no answer from ${server.text} in time`);
  return new ExchangeError('ETIMEOUT', `query to ${server.text} aborted`);
}

function overUdp(server: NameServer, q: Question, edns: boolean, signal: AbortSignal): Promise<DnsResponse> {
  const id = randomInt(0, 65536);
  const message = dnsPacket.encode(query(q, id, edns));
  return new Promise((resolve, reject) => {
    // A fresh socket per question: the kernel gives it a random port, which a forger must also guess.
    const socket = dgram.createSocket(net.isIPv6(server.host.replace(/%.*$/, '')) ? 'udp6' : 'udp4');
    let done = false;
    const finish = (err: Error | null, value?: DnsResponse): void => {
      if (done) return;
      done = true;
      signal.removeEventListener('abort', onAbort);
      socket.close();
      if (err !== null) reject(err);
      else resolve(value as DnsResponse);
    };
    const onAbort = (): void => finish(aborted(server, signal));
    if (signal.aborted) {
      socket.close();
      reject(aborted(server, signal));
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    socket.on('message', (msg) => {
      let p: DnsResponse;
      try {
        p = dnsPacket.decode(msg);
      } catch {
        return; // Not a DNS message: keep waiting for the real answer.
      }
      if (answers(q, id, p)) finish(null, p);
    });
    // A connected UDP socket hears ICMP "port unreachable" as ECONNREFUSED: no server there, ask the next one.
    socket.on('error', (err: NodeJS.ErrnoException) => finish(new ExchangeError('ECONNREFUSED', `${server.text}: ${err.code ?? err.message}`)));
    // connect(2) itself can fail: no route to the server (ENETUNREACH, the network is down), a link-local address
    // without its interface (EINVAL), a broadcast address (EACCES). Node then hands the error to this callback, not
    // to 'error', and a send() on the unconnected socket would throw from a tick, taking the process down.
    socket.connect(server.port, server.host, (err?: NodeJS.ErrnoException) => {
      if (err !== undefined && err !== null) finish(new ExchangeError('ECONNREFUSED', `${server.text}: ${err.code ?? err.message}`));
      else if (!done) socket.send(message);
    });
  });
}

/** Over TCP each message is preceded by its length in two octets (RFC 1035 §4.2.2). */
function overTcp(server: NameServer, q: Question, edns: boolean, signal: AbortSignal): Promise<DnsResponse> {
  const id = randomInt(0, 65536);
  const message = dnsPacket.streamEncode(query(q, id, edns));
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: server.host, port: server.port });
    let received = Buffer.alloc(0);
    let done = false;
    const finish = (err: Error | null, value?: DnsResponse): void => {
      if (done) return;
      done = true;
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      if (err !== null) reject(err);
      else resolve(value as DnsResponse);
    };
    const onAbort = (): void => finish(aborted(server, signal));
    if (signal.aborted) {
      socket.destroy();
      reject(aborted(server, signal));
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    socket.on('connect', () => socket.write(message));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 2) return;
      const length = received.readUInt16BE(0);
      if (received.length < 2 + length) return;
      let p: DnsResponse;
      try {
        p = dnsPacket.decode(received.subarray(2, 2 + length));
      } catch (err) {
        finish(new ExchangeError('EBADRESP', `${server.text} sent a broken answer over TCP: ${(err as Error).message}`));
        return;
      }
      if (answers(q, id, p)) finish(null, p);
      else finish(new ExchangeError('EBADRESP', `${server.text} answered another question over TCP`));
    });
    socket.on('error', (err: NodeJS.ErrnoException) => finish(new ExchangeError('ECONNREFUSED', `${server.text} over TCP: ${err.code ?? err.message}`)));
    socket.on('close', () => finish(new ExchangeError('EBADRESP', `${server.text} closed the TCP connection before answering`)));
  });
}
