// One SMTP connection: greet, then read a command, dispatch it, write the reply, until QUIT, EOF, a timeout or shutdown.
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { formatReply, type Reply } from '../../mail/reply.js';
import { replies } from '../replies.js';
import { ByteReader } from '../wire/byte-reader.js';
import { isConnectionError, isTimeout } from '../wire/connection-errors.js';
import { hangUp } from '../wire/hang-up.js';
import { CommandWait } from './command-wait.js';
import { dispatch } from './dispatch.js';
import { replyOf, type CommandContext } from './handler.js';
import type { ServerContext } from './server-context.js';
import type { Session } from './session.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });
/** A request line of HTTP: somebody is using us as a proxy or a web server (cross-protocol attack). */
const HTTP_REQUEST = /^(?:GET|POST|HEAD|PUT|DELETE|OPTIONS|CONNECT|PATCH|TRACE) \S+ HTTP\/\d/i;
const QUIT = /^QUIT\s*$/i;

export type ConnectionEnd =
  | 'quit'
  | 'eof'
  | 'timeout'
  | 'shutdown'
  | 'errors'
  | 'idle-commands'
  | 'lifetime'
  | 'sync'
  | 'refused'
  | 'http'
  | 'tls-failed'
  | 'error';

export interface ConnectionOptions {
  readonly server: ServerContext;
  readonly socket: Socket;
  readonly id: string;
  /** Port 465 style: TLS from the first byte (RFC 8314). */
  readonly implicitTls: boolean;
  /** Aborted when the server stops: idle sessions are told 421 at once, busy ones finish their transaction. */
  readonly shutdown: AbortSignal;
}

export class Connection {
  /** The socket we talk through: the accepted TCP socket, or the TLSSocket wrapping it once TLS is on. */
  private socket: Socket;
  /** The accepted TCP socket itself: a reset must go to it, never to the TLS layer above (see hang-up.ts). */
  private readonly tcp: Socket;
  private reader: ByteReader;
  readonly session: Session;
  private corked = false;
  private closed = false;
  private readonly started = Date.now();

  constructor(private readonly opts: ConnectionOptions) {
    this.socket = opts.socket;
    this.tcp = opts.socket;
    this.reader = new ByteReader(this.socket);
    this.session = {
      id: opts.id,
      remoteAddress: normalizeIp(opts.socket.remoteAddress ?? ''),
      remotePort: opts.socket.remotePort ?? 0,
      localAddress: normalizeIp(opts.socket.localAddress ?? ''),
      localPort: opts.socket.localPort ?? 0,
      greeting: null,
      tls: null,
      transaction: null,
      errors: 0,
      messages: 0,
      idleCommands: 0,
    };
  }

  /** Runs the dialogue to its end; never rejects. */
  async run(): Promise<ConnectionEnd> {
    const { metrics, name } = this.opts.server;
    metrics.sessionsOpen.inc({ server: name });
    let end: ConnectionEnd;
    try {
      end = await this.dialogue();
    } catch (err) {
      end = isTimeout(err) ? 'timeout' : isConnectionError(err) ? 'eof' : 'error';
      if (end === 'timeout') this.writeNow(replies.timeout(this.opts.server.hostname));
      if (end === 'error') this.opts.server.logger.error({ err, session: this.session.id }, 'session failed');
    }
    this.close(end === 'quit');
    metrics.sessionsOpen.dec({ server: name });
    metrics.sessions.inc({ server: name, end });
    const s = this.session;
    // The server's name is a binding of its logger (app.ts), not repeated here: a JSON key appears once per line.
    this.opts.server.logger.info(
      {
        event: 'session',
        session: s.id,
        client: s.remoteAddress,
        port: s.remotePort,
        helo: s.greeting?.name ?? null,
        tls: s.tls?.protocol ?? null,
        messages: s.messages,
        errors: s.errors,
        end,
        duration_ms: Date.now() - this.started,
      },
      'session closed',
    );
    return end;
  }

  /** Shutdown after the grace period: tell the client and hang up, whatever it was doing. */
  forceClose(): void {
    this.writeNow(replies.shuttingDown(this.opts.server.hostname));
    this.close();
  }

  private async dialogue(): Promise<ConnectionEnd> {
    const { server } = this.opts;
    // The blocklists are asked while the TLS handshake and the pause run: a client waits for the longest, not for all.
    const screening = this.screen();
    if (this.opts.implicitTls && !(await this.startTls())) return 'tls-failed';
    const early = await this.greetPause();
    if (early !== null) return early;
    const refusal = await screening;
    if (this.reader.buffered > 0) return this.outOfSync('talked before the greeting'); // while the lists were asked
    this.writeNow(refusal ?? replies.greeting(server.hostname));
    const connection = this; // the reader is replaced after STARTTLS: handlers always see the current one
    const ctx: CommandContext = {
      session: this.session,
      server,
      get reader() {
        return connection.reader;
      },
      send: async (r) => connection.writeNow(r),
    };

    const wait = new CommandWait(server.timeouts.command, this.opts.shutdown);
    try {
      return await this.commandLoop(ctx, wait, refusal);
    } finally {
      wait.dispose();
    }
  }

  /** `refusal`: the client was refused instead of greeted, and every command but QUIT gets that reply again. */
  private async commandLoop(ctx: CommandContext, wait: CommandWait, refusal: Reply | null): Promise<ConnectionEnd> {
    const { server } = this.opts;
    for (;;) {
      // Only a session between transactions may be interrupted by shutdown; one in a transaction gets the grace period.
      const signal = wait.begin(this.session.transaction === null);
      let result;
      try {
        // A client that pipelines commands but never reads our replies must not make us buffer them forever.
        if (this.socket.writableNeedDrain) await drained(this.socket, signal);
        result = await this.reader.readLine(server.limits.maxLineLength, signal);
      } catch (err) {
        if (wait.endedBy === 'shutdown') {
          this.writeNow(replies.shuttingDown(server.hostname));
          return 'shutdown';
        }
        throw err;
      }
      wait.end();
      if (result.kind === 'eof') return 'eof';
      const limit = this.limitReached();
      if (limit !== null) return limit;
      // RFC 2920 §3.1: only a client that saw PIPELINING in our EHLO reply may send a command before the reply to
      // the previous one. More bytes already here means it did not wait: spamware does this, honest clients never.
      if (result.kind === 'line' && this.session.greeting?.esmtp !== true && this.reader.buffered > 0) {
        return this.outOfSync('command pipelined before EHLO');
      }

      let outcome;
      if (result.kind === 'too-long') outcome = replies.lineTooLong(server.limits.maxLineLength);
      else if (result.kind === 'bare-lf') outcome = replies.bareLineEnding();
      else {
        const line = decodeLine(result.line);
        if (typeof line !== 'string') outcome = line;
        else if (HTTP_REQUEST.test(line)) {
          this.writeNow(replies.httpRefused());
          return 'http';
        } else if (refusal !== null && !QUIT.test(line)) {
          // RFC 5321 §3.1: after a 554 instead of the greeting the server waits for QUIT (the error limit ends it sooner).
          outcome = refusal;
        } else {
          server.logger.debug({ session: this.session.id, command: redact(line) }, 'command');
          outcome = await dispatch(ctx, line);
        }
      }

      const reply = replyOf(outcome);
      if (reply.code >= 400) this.session.errors += 1;
      this.write(reply);
      if (this.session.errors >= server.limits.maxErrors) {
        this.writeNow(replies.tooManyErrors());
        return 'errors';
      }
      if ('then' in outcome) {
        // QUIT, or a handler that sent the client away (its reply and its log line say why).
        if (outcome.then === 'close') return reply.code === 221 ? 'quit' : 'refused';
        if (!(await this.startTls())) return 'tls-failed';
      }
    }
  }

  /**
   * The session-wide limits, checked before each command: the command timeout alone cannot end a session whose
   * client keeps talking without sending mail (an EHLO every few minutes would hold a slot forever), nor one that
   * sends mail too slowly. Either ends with 421 4.7.0, and a warning naming the client.
   */
  private limitReached(): ConnectionEnd | null {
    const { limits, logger } = this.opts.server;
    const s = this.session;
    s.idleCommands += 1;
    const end: ConnectionEnd | null =
      s.idleCommands > limits.maxIdleCommands ? 'idle-commands' : Date.now() - this.started > limits.maxSessionTime ? 'lifetime' : null;
    if (end === null) return null;
    this.writeNow(end === 'lifetime' ? replies.sessionTooLong() : replies.tooManyIdleCommands());
    logger.warn({ event: 'session-limit', session: s.id, client: s.remoteAddress, limit: end, messages: s.messages }, 'session limit reached');
    return end;
  }

  /**
   * The pause before the greeting (inbound.greet_pause, as Postfix's postscreen): a client that talks before it is
   * greeted did not wait for us (RFC 5321 §4.1.4) and is sent away. Without a pause only bytes already there count.
   */
  private async greetPause(): Promise<ConnectionEnd | null> {
    const { server, shutdown } = this.opts;
    const pause = server.timeouts.greetPause;
    if (pause > 0) {
      let chunk: Buffer | null;
      try {
        chunk = await this.reader.read(AbortSignal.any([AbortSignal.timeout(pause), shutdown]));
      } catch (err) {
        if (isTimeout(err)) return null; // silent all along: the greeting it is
        throw err;
      }
      if (chunk === null) return 'eof';
      this.reader.unshift(chunk);
    }
    return this.reader.buffered > 0 ? this.outOfSync('talked before the greeting') : null;
  }

  /** The client screen's refusal (DNS blocklists), logged; null when it lets the client in, or without a screen. */
  private async screen(): Promise<Reply | null> {
    const { server } = this.opts;
    const s = this.session;
    if (server.clientScreen === undefined) return null;
    const refusal = await server.clientScreen.screen(s.remoteAddress).catch((err: unknown) => {
      server.logger.error({ err, session: s.id }, 'client screen failed; client let in');
      return null;
    });
    if (refusal === null) return null;
    server.logger.warn({ event: 'client-refused', session: s.id, client: s.remoteAddress, reason: refusal.reason }, `client refused: ${refusal.reason}`);
    return refusal.reply;
  }

  /** 554 5.5.0 and the end of the session, with the reason in the log. */
  private outOfSync(reason: string): ConnectionEnd {
    const s = this.session;
    this.writeNow(replies.synchronisation(reason));
    this.opts.server.logger.warn({ event: 'sync-error', session: s.id, client: s.remoteAddress, reason }, `protocol synchronization error: ${reason}`);
    return 'sync';
  }

  /** Replaces the reader and socket with TLS ones; false if the handshake failed (the connection is then dropped). */
  private async startTls(): Promise<boolean> {
    const { server } = this.opts;
    if (server.tls === null) return false;
    this.uncork();
    // RFC 3207 §4.2 / CVE-2011-0411: anything the client sent after STARTTLS, before the handshake, is plaintext
    // an attacker may have injected; it must never be read as commands of the encrypted session.
    const injected = this.reader.discardBuffered();
    if (injected > 0) server.logger.warn({ session: this.session.id, bytes: injected }, 'discarded plaintext pipelined after STARTTLS');
    this.reader.detach();
    const tlsSocket = new TLSSocket(this.socket, { isServer: true, secureContext: server.tls.current() });
    tlsSocket.on('error', () => undefined); // reported through the handshake or the reader
    this.socket = tlsSocket;
    try {
      await handshake(tlsSocket, server.timeouts.tlsHandshake);
    } catch (err) {
      server.logger.info({ session: this.session.id, err: (err as Error).message }, 'TLS handshake failed');
      return false;
    }
    this.reader = new ByteReader(tlsSocket);
    this.session.tls = { protocol: tlsSocket.getProtocol() ?? 'unknown', cipher: tlsSocket.getCipher()?.name ?? 'unknown' };
    server.metrics.tlsSessions.inc({ server: server.name, version: this.session.tls.protocol });
    // The session starts over: the greeting and any transaction are forgotten (RFC 3207 §4.2).
    this.session.greeting = null;
    this.session.transaction = null;
    return true;
  }

  /** Queues a reply; replies to pipelined commands leave together once we would wait for input (RFC 2920 §3.2). */
  private write(r: Reply): void {
    if (this.closed) return;
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => this.uncork());
    }
    this.socket.write(formatReply(r));
  }

  private writeNow(r: Reply): void {
    this.write(r);
    this.uncork();
  }

  private uncork(): void {
    if (!this.corked) return;
    this.corked = false;
    this.socket.uncork();
  }

  /** `quit`: the client said QUIT and was answered, so the connection closes as soon as that reply is written. */
  private close(quit = false): void {
    if (this.closed) return;
    this.uncork();
    this.closed = true;
    this.reader.detach();
    hangUp(this.socket, this.tcp, {
      closeOnceWritten: quit,
      onReset: () => this.opts.server.logger.debug({ event: 'connection-reset', session: this.session.id }, 'the client kept the connection open after ours closed: reset'),
    });
  }
}

/** Resolves once the socket's write buffer has drained; rejects when the signal aborts first. */
function drained(socket: Socket, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: unknown): void => {
      socket.off('drain', onDrain);
      socket.off('close', onDrain);
      signal.removeEventListener('abort', onAbort);
      if (err === undefined) resolve();
      else reject(err);
    };
    const onDrain = (): void => done();
    const onAbort = (): void => done(signal.reason);
    if (signal.aborted) return onAbort();
    socket.once('drain', onDrain);
    socket.once('close', onDrain);
    signal.addEventListener('abort', onAbort);
  });
}

function handshake(socket: TLSSocket, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error('TLS handshake timed out')), timeoutMs);
    const done = (err?: Error): void => {
      clearTimeout(timer);
      socket.off('secure', onSecure);
      socket.off('error', done);
      socket.off('close', onClose);
      if (err === undefined) resolve();
      else reject(err);
    };
    const onSecure = (): void => done();
    const onClose = (): void => done(new Error('connection closed during the TLS handshake'));
    socket.once('secure', onSecure);
    socket.once('error', done);
    socket.once('close', onClose);
  });
}

/** A command line as text, or the reply refusing it (NUL, stray CR, invalid UTF-8). */
function decodeLine(bytes: Buffer): string | Reply {
  if (bytes.includes(0)) return replies.nulInCommand();
  if (bytes.includes(13)) return replies.bareLineEnding();
  try {
    return utf8.decode(bytes);
  } catch {
    return replies.invalidUtf8();
  }
}

/** Commands are logged at debug level; keep an AUTH-like secret out should one ever be sent. */
const redact = (line: string): string => (/^AUTH\b/i.test(line) ? 'AUTH ***' : line);

/** "::ffff:127.0.0.1" → "127.0.0.1": the form people read in logs and headers. */
export function normalizeIp(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}
