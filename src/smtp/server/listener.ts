// The listening side of one server: sockets for "[::]:25"-style addresses, the connection cap, graceful shutdown.
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import type { ListenAddress } from '../../config/config.js';
import { formatReply, type Reply } from '../../mail/reply.js';
import { replies } from '../replies.js';
import { hangUp } from '../wire/hang-up.js';
import { Connection, normalizeIp } from './connection.js';
import type { ServerContext } from './server-context.js';

/** A listen address could not be bound; the message names the address and the reason. */
export class BindError extends Error {
  constructor(
    readonly address: string,
    readonly code: string,
    reason: string,
  ) {
    super(`cannot listen on ${address}: ${reason}`);
    this.name = 'BindError';
  }
}

export interface SmtpServerOptions {
  /** Refuses a peer before the greeting (the relay serves loopback only). */
  readonly acceptPeer?: (ip: string) => boolean;
  /**
   * A socket already listening on host:port to use instead of binding one (socket activation: systemd opened it),
   * or null to bind as usual.
   */
  readonly adopt?: (host: string, port: number) => Server | null;
  /**
   * Worker processes (src/workers): the primary accepts, and each connection it admits is handed to `handOff` with
   * the listener's key and a function to call once the worker reports the connection ended. No session runs here.
   */
  readonly handOff?: (socket: Socket, key: string, release: () => void) => void;
  /** In a worker: the connections the primary hands over for a listener's key, instead of a socket we bind. */
  readonly takeOver?: (key: string) => ConnectionSource;
}

/** Where a worker's connections come from: the primary's hand-overs for one listener. */
export interface ConnectionSource {
  on(event: 'connection', listener: (socket: Socket) => void): void;
  close(): void;
}

/** The name of one listener, the same in the primary and its workers (both read the same config). */
export const listenerKey = (server: string, address: ListenAddress, implicitTls: boolean): string =>
  `${server} ${implicitTls ? 'tls' : 'plain'} ${address.text}`;

export interface BoundAddress {
  readonly text: string;
  readonly host: string;
  readonly port: number;
  readonly implicitTls: boolean;
}

export class SmtpServer {
  private readonly servers: { server: Server | null; bound: BoundAddress }[] = [];
  private readonly sources: ConnectionSource[] = [];
  /** Connections handed to workers and not yet reported ended: they count against limits.maxConnections. */
  private handedOff = 0;
  private readonly connections = new Set<Connection>();
  private readonly running = new Set<Promise<unknown>>();
  private readonly shutdown = new AbortController();
  /**
   * Session ids for the logs: a random prefix per server and a counter, unique within the process and unlikely to
   * repeat across restarts. (A random id per connection cost a call into the CSPRNG for every connection.)
   */
  private readonly idPrefix = randomBytes(3).toString('base64url');
  private sessions = 0;

  constructor(
    private readonly ctx: ServerContext,
    private readonly opts: SmtpServerOptions = {},
  ) {}

  /** Binds every address; on the first failure closes what was bound and rejects with a BindError. */
  async listen(addresses: readonly ListenAddress[], implicitTls: boolean): Promise<void> {
    if (this.opts.takeOver !== undefined) {
      for (const a of addresses) {
        const source = this.opts.takeOver(listenerKey(this.ctx.name, a, implicitTls));
        source.on('connection', (socket) => {
          socket.setNoDelay(true);
          this.acceptSafely(socket, implicitTls, a);
        });
        this.sources.push(source);
        this.servers.push({ server: null, bound: { text: a.text, host: a.host, port: a.port, implicitTls } });
      }
      return;
    }
    for (const a of addresses) {
      const inherited = this.opts.adopt?.(a.host, a.port) ?? null;
      // A primary that hands connections to workers must not read from them: bytes it read would be lost in the move.
      const handsOff = this.opts.handOff !== undefined;
      const server = inherited ?? createServer({ noDelay: true, pauseOnConnect: handsOff });
      if (inherited !== null && handsOff) (server as Server & { pauseOnConnect: boolean }).pauseOnConnect = true;
      server.on('connection', (socket: Socket) => {
        if (inherited !== null) socket.setNoDelay(true); // what createServer's noDelay does for the sockets we bind
        this.acceptSafely(socket, implicitTls, a);
      });
      server.maxConnections = Number.MAX_SAFE_INTEGER; // our own cap answers 421 instead of a silent reset
      if (inherited === null) {
        try {
          await bind(server, a);
        } catch (err) {
          await this.closeListeners();
          throw toBindError(a.text, err as NodeJS.ErrnoException);
        }
      }
      const port = (server.address() as { port: number }).port;
      const host = a.host.includes(':') ? `[${a.host}]` : a.host;
      const text = `${host}:${port}`;
      // Once bound, an error on the listening socket is one the OS reports while accepting (EMFILE, ENFILE, ENOBUFS):
      // without a handler it would be thrown into the process. The server keeps listening; the log says why
      // clients are being turned away.
      server.on('error', (err) => this.ctx.logger.error({ event: 'accept-error', listener: text, err }, 'error on listening socket'));
      this.servers.push({ server, bound: { text, host: a.host, port, implicitTls } });
    }
  }

  /** The addresses actually bound (port 0 resolved). */
  addresses(): readonly BoundAddress[] {
    return this.servers.map((s) => s.bound);
  }

  get connectionCount(): number {
    return this.connections.size + this.handedOff;
  }

  /** Stops accepting, lets transactions finish within the grace period, then closes the rest with 421. */
  async close(): Promise<void> {
    // server.close() stops accepting at once but calls back only when every connection has ended,
    // so the sessions must be told to finish before we wait for it.
    const listenersClosed = this.closeListeners();
    this.shutdown.abort();
    if (this.running.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.ctx.timeouts.shutdownGrace);
      });
      await Promise.race([Promise.allSettled([...this.running]), grace]);
      clearTimeout(timer);
      for (const c of this.connections) c.forceClose();
      await Promise.allSettled([...this.running]);
    }
    await listenersClosed;
  }

  /** A fault while setting up one connection ends that connection only, never the process. */
  private acceptSafely(socket: Socket, implicitTls: boolean, address: ListenAddress): void {
    socket.on('error', () => undefined); // a reset peer must not crash the process; the reader sees the end
    try {
      this.accept(socket, implicitTls, address);
    } catch (err) {
      this.ctx.logger.error({ event: 'accept-failed', client: socket.remoteAddress ?? null, err }, 'could not start a session');
      socket.destroy();
    }
  }

  private accept(socket: Socket, implicitTls: boolean, address: ListenAddress): void {
    const ip = normalizeIp(socket.remoteAddress ?? '');
    let release = (): void => undefined;
    const admit = (): Reply | null => {
      const limited = this.ctx.clientLimits?.admit(ip);
      if (limited === undefined) return null;
      if ('refused' in limited) return replies.clientLimit(limited.refused);
      release = limited.release;
      return null;
    };
    const refuse = this.opts.acceptPeer !== undefined && !this.opts.acceptPeer(ip)
      ? replies.notLoopback()
      : this.connectionCount >= this.ctx.limits.maxConnections
        ? replies.tooManyConnections()
        : this.shutdown.signal.aborted
          ? replies.shuttingDown(this.ctx.hostname)
          : admit();
    if (refuse !== null) {
      this.ctx.logger.warn({ event: 'refused', client: ip, reply: refuse.code, reason: refuse.lines[0] }, 'connection refused');
      this.ctx.metrics.connectionsRefused.inc({ server: this.ctx.name, code: String(refuse.code) });
      // On a TLS port the client expects a handshake, so a plain 421 would be noise: just close.
      if (implicitTls) socket.destroy();
      else hangUp(socket, socket, { last: formatReply(refuse) });
      return;
    }
    if (this.opts.handOff !== undefined) {
      this.handedOff += 1;
      let ended = false;
      this.opts.handOff(socket, listenerKey(this.ctx.name, address, implicitTls), () => {
        if (ended) return;
        ended = true;
        this.handedOff -= 1;
        release();
      });
      return;
    }
    let connection: Connection;
    try {
      connection = new Connection({
        server: this.ctx,
        socket,
        id: `${this.idPrefix}${(++this.sessions).toString(36)}`,
        implicitTls,
        shutdown: this.shutdown.signal,
      });
    } catch (err) {
      release();
      throw err;
    }
    this.connections.add(connection);
    const run = connection.run().finally(() => {
      release();
      this.connections.delete(connection);
      this.running.delete(run);
    });
    this.running.add(run);
  }

  private async closeListeners(): Promise<void> {
    const servers = this.servers.splice(0);
    for (const source of this.sources.splice(0)) source.close();
    await Promise.all(servers.map(({ server }) => new Promise<void>((resolve) => (server === null ? resolve() : server.close(() => resolve())))));
  }
}

function bind(server: Server, a: ListenAddress): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    // "[::]" accepts IPv4 too (dual stack); a specific IPv6 address only itself.
    server.listen({ host: a.host, port: a.port, ipv6Only: false, backlog: 1024 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

export function toBindError(address: string, err: NodeJS.ErrnoException): BindError {
  const code = err.code ?? 'UNKNOWN';
  const reasons: Record<string, string> = {
    EACCES: 'permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)',
    EADDRINUSE: 'address already in use (is another mail server running?)',
    EADDRNOTAVAIL: 'address not available on this machine',
    EAFNOSUPPORT: 'address family not supported (is IPv6 disabled?)',
  };
  return new BindError(address, code, reasons[code] ?? err.message);
}
