// One client socket (plain, then maybe TLS): replies read in order, writes with backpressure, a time limit on every wait.
import { X509Certificate } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import type { Reply } from '../../mail/reply.js';
import { ReplyParser } from '../wire/read-reply.js';
import {
  ClientTimeoutError,
  type ClientStage,
  ConnectionLostError,
  RemoteProtocolError,
  TlsHandshakeError,
} from './client-errors.js';

/** Replies held but not yet read: past this many bytes we stop reading the socket (a server cannot flood us). */
const MAX_QUEUED_REPLY_BYTES = 256 * 1024;

export interface TlsInfo {
  readonly protocol: string;
  readonly cipher: string;
  /**
   * The presented chain verified against the trusted CAs (StartTlsOptions.secureContext, else Node's list).
   * It says nothing about the server's name: checking that is the caller's business (outbound/tls-policy).
   */
  readonly authorized: boolean;
  /** OpenSSL's reason when not authorized ("CERT_HAS_EXPIRED", "UNABLE_TO_GET_ISSUER_CERT_LOCALLY"…), else null. */
  readonly authorizationError: string | null;
  /**
   * The server's certificate first, then its chain as Node builds it (the issuer from the trust store may end it).
   * Worked out on first read (about a millisecond, which sessions without a policy to check need not pay): read it
   * while the session is open.
   */
  readonly peerCertificates: readonly X509Certificate[];
}

/** What STARTTLS needs to let the caller verify the server (RFC 7672 §3.2, RFC 8461 §4.2); every field optional. */
export interface StartTlsOptions {
  /** Sent as SNI (RFC 6066 §3; never an IP address). */
  readonly servername?: string;
  /** The trusted CAs (and other client TLS settings): e.g. the system's plus outbound.ca_file. Default: Node's CA list. */
  readonly secureContext?: tls.SecureContext;
  /**
   * true: Node refuses the handshake unless the chain verifies and the certificate is valid for `servername`.
   * false (default): the handshake goes on whatever the certificate; `authorized`, `authorizationError` and
   * `peerCertificates` in TlsInfo tell the caller what it got, so that its policy decides (opportunistic TLS
   * must still encrypt with a certificate nobody can verify, RFC 7435).
   */
  readonly rejectUnauthorized?: boolean;
}

/**
 * The socket and what came out of it. Every wait goes through wait(): it re-checks the state each time something
 * happens on the socket (data, drain, error, close) and gives up when its timer runs out or the caller's signal
 * aborts. A wait that times
 * out destroys the socket: the dialogue is out of step and cannot be resumed.
 */
export class ClientConnection {
  private socket: net.Socket;
  private parser = new ReplyParser();
  private replies: Reply[] = [];
  private queuedBytes = 0;
  /** Why the socket is gone: undefined while open, null when the peer just closed it. */
  private gone: Error | null | undefined = undefined;
  private protocolError: Error | null = null;
  /** Read once the handshake is done: the socket forgets it when it closes. */
  private tlsInfo: TlsInfo | null = null;
  /** The waits in progress, woken up whenever something happens on the socket. */
  private readonly waiters = new Set<() => void>();

  private constructor(
    socket: net.Socket,
    /** "192.0.2.1:25" or "[2001:db8::1]:25", for messages. */
    readonly remote: string,
    private readonly outer: AbortSignal | undefined,
  ) {
    this.socket = socket;
    this.listen(socket);
  }

  /** Opens a TCP connection to an IP address; rejects with ConnectionLostError (refused…) or ClientTimeoutError. */
  static async open(host: string, port: number, ms: number, outer?: AbortSignal, localAddress?: string): Promise<ClientConnection> {
    const remote = net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
    // No Nagle: the final dot after the message, or a command after its reply, must not wait for a delayed ACK (40 ms).
    const socket = net.connect({ host, port, noDelay: true, ...(localAddress === undefined ? {} : { localAddress }) });
    return ClientConnection.connected(socket, remote, ms, outer);
  }

  /** Opens a Unix stream socket (LMTP to a local server, RFC 2033 §4); errors as open(). */
  static async openUnix(path: string, ms: number, outer?: AbortSignal): Promise<ClientConnection> {
    return ClientConnection.connected(net.connect({ path }), `unix:${path}`, ms, outer);
  }

  private static async connected(socket: net.Socket, remote: string, ms: number, outer: AbortSignal | undefined): Promise<ClientConnection> {
    const conn = new ClientConnection(socket, remote, outer);
    let connected = false;
    socket.once('connect', () => {
      connected = true;
      conn.notify();
    });
    await conn.wait('connect', ms, () => (connected ? true : undefined));
    return conn;
  }

  /** The negotiated TLS session, null in plain text. */
  get tls(): TlsInfo | null {
    return this.tlsInfo;
  }

  /** The next reply, in order. Throws ConnectionLostError if the server closed first, ClientTimeoutError, RemoteProtocolError. */
  async readReply(stage: ClientStage, ms: number): Promise<Reply> {
    return this.wait(stage, ms, () => this.takeReply());
  }

  /** A reply already received, if any, without waiting. */
  takeReply(): Reply | undefined {
    const r = this.replies.shift();
    if (r === undefined) return undefined;
    this.queuedBytes -= size(r);
    if (this.socket.isPaused() && this.queuedBytes < MAX_QUEUED_REPLY_BYTES / 2) this.socket.resume();
    return r;
  }

  /** Writes a command or a group of pipelined commands; does not wait for the kernel to take them. Errors show on the next read. */
  send(text: string): void {
    if (this.gone === undefined) this.socket.write(text);
  }

  /** Writes message data and waits while the socket's buffer is full (backpressure). */
  async write(data: Uint8Array, stage: ClientStage, ms: number): Promise<void> {
    this.check(stage);
    if (this.socket.write(data)) return;
    await this.wait(stage, ms, () => (this.socket.writableNeedDrain ? undefined : true));
    this.check(stage);
  }

  /**
   * Runs the TLS handshake over the open socket after a 220 to STARTTLS (RFC 3207 §4). By default nothing is
   * refused: the chain's verdict and the certificates are returned for the caller's policy. Anything the server sent in plain text after
   * its 220 is thrown away: it could only be replies injected by a man in the middle, to be read as if they had come
   * through TLS (the STARTTLS injection attack, CVE-2011-0411; RFC 3207 §4.2 has the client forget the plain session).
   */
  async upgrade(opts: StartTlsOptions, ms: number): Promise<TlsInfo> {
    const plain = this.socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('drain');
    this.parser = new ReplyParser();
    this.replies = [];
    this.queuedBytes = 0;
    const { servername, secureContext } = opts;
    const reject = opts.rejectUnauthorized === true;
    const secure = tls.connect({
      socket: plain,
      rejectUnauthorized: reject,
      // Without rejection, Node's own name check is left out, so `authorized` speaks of the chain alone.
      ...(reject ? {} : { checkServerIdentity: () => undefined }),
      ...(secureContext !== undefined ? { secureContext } : {}),
      // SNI carries host names only, never IP addresses (RFC 6066 §3).
      ...(servername !== undefined && isHostName(servername) ? { servername } : {}),
    });
    this.socket = secure;
    this.listen(secure);
    secure.once('secureConnect', () => {
      const error = secure.authorizationError as Error | string | null | undefined;
      let chain: X509Certificate[] | null = null;
      this.tlsInfo = {
        protocol: secure.getProtocol() ?? 'unknown',
        cipher: secure.getCipher()?.name ?? 'unknown',
        authorized: secure.authorized,
        authorizationError: secure.authorized || error === undefined || error === null ? null : typeof error === 'string' ? error : ((error as { code?: string }).code ?? error.message),
        get peerCertificates(): readonly X509Certificate[] {
          chain ??= peerChain(secure);
          return chain;
        },
      };
      this.notify();
    });
    try {
      await this.wait('tls-handshake', ms, () => this.tlsInfo ?? undefined);
    } catch (err) {
      if (err instanceof ConnectionLostError) {
        throw new TlsHandshakeError(`TLS handshake with ${this.remote} failed: ${err.reason}`, err.reason, { cause: err.cause ?? err });
      }
      throw err;
    }
    return this.tlsInfo as TlsInfo;
  }

  /** Closes our side politely and waits (bounded) for the server to close its own. */
  async end(ms: number): Promise<void> {
    if (this.gone !== undefined) return;
    this.socket.end();
    try {
      await this.wait('quit', ms, () => (this.gone !== undefined ? true : undefined));
    } catch {
      // The server did not close within the time limit: destroy() below does it.
    }
    this.destroy();
  }

  /** Drops the connection at once. */
  destroy(): void {
    this.socket.destroy();
    this.gone ??= null;
  }

  private listen(socket: net.Socket): void {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.notify());
    socket.on('error', (err: Error) => {
      this.gone ??= err;
      this.notify();
    });
    socket.on('close', () => {
      this.gone ??= null;
      this.notify();
    });
  }

  private onData(chunk: Buffer): void {
    try {
      for (const r of this.parser.push(chunk)) {
        this.replies.push(r);
        this.queuedBytes += size(r);
      }
    } catch (err) {
      this.protocolError = err as Error;
      this.socket.destroy();
    }
    if (this.queuedBytes > MAX_QUEUED_REPLY_BYTES) this.socket.pause();
    this.notify();
  }

  private notify(): void {
    for (const wake of [...this.waiters]) wake();
  }

  /** Throws the error that ended the connection, if it has ended. */
  private check(stage: ClientStage): void {
    if (this.protocolError !== null) {
      throw new RemoteProtocolError(stage, `${this.remote}: ${this.protocolError.message}`, { cause: this.protocolError });
    }
    if (this.gone === undefined) return;
    if (this.gone === null) throw new ConnectionLostError(stage, 'connection closed', this.remote);
    throw new ConnectionLostError(stage, describe(this.gone), this.remote, { cause: this.gone });
  }

  /**
   * Waits until ready() returns a value. ready() is asked before the connection's state, so replies that arrived
   * before a close are still handed out in order (a server may send "421" and close at once).
   */
  private async wait<T>(stage: ClientStage, ms: number, ready: () => T | undefined): Promise<T> {
    const first = ready();
    if (first !== undefined) return first; // already here (a pipelined reply): no timer at all
    // A plain timer and one listener on the caller's signal: an AbortSignal.timeout and an AbortSignal.any per
    // reply cost the relay a few per cent of its event loop.
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      this.notify();
    }, ms);
    timer.unref(); // the socket keeps the process alive, not this timer
    const outer = this.outer;
    const onAbort = (): void => this.notify();
    outer?.addEventListener('abort', onAbort);
    try {
      for (;;) {
        const value = ready();
        if (value !== undefined) return value;
        this.check(stage);
        if (timedOut) {
          this.destroy();
          throw new ClientTimeoutError(stage, ms);
        }
        if (outer?.aborted === true) return this.abandon(stage, ms, outer);
        await new Promise<void>((resolve) => {
          const wake = (): void => {
            this.waiters.delete(wake);
            resolve();
          };
          this.waiters.add(wake);
        });
      }
    } finally {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onAbort);
    }
  }

  private abandon(stage: ClientStage, ms: number, signal: AbortSignal): never {
    this.destroy();
    const reason: unknown = signal.reason;
    if ((reason as { name?: unknown } | null)?.name === 'TimeoutError') throw new ClientTimeoutError(stage, ms);
    throw reason;
  }
}

/** The peer's certificate and the issuers Node found for it, leaf first, each once. */
function peerChain(socket: tls.TLSSocket): X509Certificate[] {
  const chain: X509Certificate[] = [];
  const seen = new Set<string>();
  let cert: tls.DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
  while (cert !== undefined && cert.raw !== undefined && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    chain.push(new X509Certificate(cert.raw));
    cert = cert.issuerCertificate;
  }
  return chain;
}

/** Roughly what a reply took on the wire. */
const size = (r: Reply): number => r.lines.reduce((n, l) => n + l.length + 6, 0);

/** "connection refused" rather than "connect ECONNREFUSED 127.0.0.1:25": the address is given apart. */
function describe(err: Error): string {
  switch ((err as { code?: unknown }).code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ECONNRESET':
      return 'connection reset';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'no route to host';
    case 'EADDRNOTAVAIL':
      return 'address not available';
    case 'EPIPE':
      return 'connection closed while writing';
    case 'ENOENT':
      return 'no such socket';
    case 'EACCES':
      return 'permission denied';
    default: {
      // OpenSSL's messages name the library and source file, over several lines; its `reason` is what tells.
      const reason = (err as { reason?: unknown }).reason;
      if (typeof reason === 'string' && reason !== '') return reason;
      return err.message.replace(/\s+/g, ' ').trim();
    }
  }
}

/** A DNS name fit for SNI: not an IP address, not an address literal. */
function isHostName(name: string): boolean {
  return net.isIP(name) === 0 && /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?$/.test(name);
}
