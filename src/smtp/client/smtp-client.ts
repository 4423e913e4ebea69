// The SMTP client: greeting, EHLO (HELO fallback), STARTTLS, MAIL/RCPT/DATA (pipelined when offered), QUIT.
import type { Logger } from '../../observability/logger.js';
import { isPositive, type Reply, replyText } from '../../mail/reply.js';
import { DotStuffer } from '../wire/dot-stuff.js';
import { ClientConnection, type StartTlsOptions, type TlsInfo } from './client-connection.js';
import { type ClientStage, ConnectionLostError, RemoteReplyError, TlsHandshakeError } from './client-errors.js';
import { Capabilities } from './ehlo-capabilities.js';

export type { StartTlsOptions, TlsInfo } from './client-connection.js';

/** How long each wait may last, in ms (RFC 5321 §4.5.3.2 gives the minimums a client should use). */
export interface ClientTimeouts {
  /** The TCP connection (not in the RFC: a dead address should not hold a delivery for minutes). */
  readonly connect: number;
  /** The 220 greeting (§4.5.3.2.1: 5 minutes). */
  readonly greeting: number;
  /** MAIL and RCPT (§4.5.3.2.2-3: 5 minutes), and EHLO, HELO, STARTTLS with its handshake, QUIT. */
  readonly command: number;
  /** The 354 to DATA (§4.5.3.2.4: 2 minutes). */
  readonly dataInit: number;
  /** Each write of message data (§4.5.3.2.5: 3 minutes). */
  readonly dataBlock: number;
  /** The reply after the final dot (§4.5.3.2.6: 10 minutes). */
  readonly dataEnd: number;
}

const MINUTE = 60_000;
export const defaultClientTimeouts: ClientTimeouts = {
  connect: 30_000,
  greeting: 5 * MINUTE,
  command: 5 * MINUTE,
  dataInit: 2 * MINUTE,
  dataBlock: 3 * MINUTE,
  dataEnd: 10 * MINUTE,
};

export interface ConnectOptions {
  /** An IP address: name resolution is the caller's (MX) business. */
  readonly host: string;
  readonly port: number;
  /** Our name in EHLO/HELO. */
  readonly localHostname: string;
  readonly timeouts: ClientTimeouts;
  readonly logger?: Logger;
  /** Aborts every wait (shutdown). */
  readonly signal?: AbortSignal;
  /** The address to send from (one of this host's, of the same family as `host`); the system's choice without it. */
  readonly localAddress?: string;
}

/** The replies to one transaction's envelope; data is null when DATA was not sent (MAIL or every RCPT refused). */
export interface EnvelopeReplies {
  readonly mail: Reply;
  /** One per recipient, in order; empty when MAIL was refused without pipelining. */
  readonly rcpts: readonly Reply[];
  readonly data: Reply | null;
}

const DOT_CRLF = Buffer.from('.\r\n');

/**
 * One SMTP session with one server. Methods are meant to be called in dialogue order; each waits for its reply
 * with its own time limit and throws a ClientError (client-errors.ts) when the step cannot go on: a reply the
 * step cannot work with (RemoteReplyError), a lost connection, a timeout, a broken reply. A 421 ends the
 * session whatever the step (RFC 5321 §3.8). Replies to MAIL, RCPT, DATA and the final dot are returned as they
 * are, for the caller to judge per recipient.
 */
export class SmtpClient {
  private caps = Capabilities.none();

  private constructor(
    private readonly conn: ClientConnection,
    private readonly opts: ConnectOptions,
    /** The 220 greeting. */
    readonly greeting: Reply,
  ) {}

  /** Connects and reads the greeting; a greeting other than 220 throws RemoteReplyError (stage "greeting"). */
  static async connect(opts: ConnectOptions): Promise<SmtpClient> {
    const conn = await ClientConnection.open(opts.host, opts.port, opts.timeouts.connect, opts.signal, opts.localAddress);
    try {
      const greeting = await conn.readReply('greeting', opts.timeouts.greeting);
      opts.logger?.debug({ remote: conn.remote, s: replyText(greeting) }, 'smtp client: greeting');
      if (greeting.code !== 220) throw new RemoteReplyError('greeting', greeting);
      return new SmtpClient(conn, opts, greeting);
    } catch (err) {
      conn.destroy();
      throw err;
    }
  }

  /** "192.0.2.1:25" / "[2001:db8::1]:25". */
  get remote(): string {
    return this.conn.remote;
  }

  /** What the last EHLO offered (nothing before EHLO or after the HELO fallback). */
  get capabilities(): Capabilities {
    return this.caps;
  }

  /** The TLS session, null in plain text. */
  get tls(): TlsInfo | null {
    return this.conn.tls;
  }

  /** EHLO; when the server refuses it with 5xx ("command not recognized": an SMTP-only server), HELO instead (RFC 5321 §3.2). */
  async ehlo(): Promise<Capabilities> {
    const r = await this.command(`EHLO ${this.opts.localHostname}`, 'ehlo', this.opts.timeouts.command);
    if (r.code === 250) {
      this.caps = Capabilities.fromEhlo(r);
      return this.caps;
    }
    if (r.code < 500) throw new RemoteReplyError('ehlo', r);
    const helo = await this.command(`HELO ${this.opts.localHostname}`, 'helo', this.opts.timeouts.command);
    if (helo.code !== 250) throw new RemoteReplyError('helo', helo);
    this.caps = Capabilities.none();
    return this.caps;
  }

  /**
   * STARTTLS, the handshake, then EHLO again: what the server offered in plain text no longer counts (RFC 3207 §4.2).
   * A refusal throws RemoteReplyError (stage "starttls") and leaves the plain session usable (RFC 3207 §4).
   * A failed handshake, or a session that dies before the new EHLO is answered, throws TlsHandshakeError: the
   * connection is gone. With the default options the certificate is not judged: TlsInfo carries the facts
   * (authorized, authorizationError, peerCertificates) for the caller's policy.
   */
  async startTls(opts: StartTlsOptions = {}): Promise<TlsInfo> {
    const r = await this.command('STARTTLS', 'starttls', this.opts.timeouts.command);
    if (r.code !== 220) throw new RemoteReplyError('starttls', r);
    this.caps = Capabilities.none();
    const info = await this.conn.upgrade(opts, this.opts.timeouts.command);
    try {
      await this.ehlo();
    } catch (err) {
      if (!(err instanceof ConnectionLostError)) throw err;
      throw new TlsHandshakeError(`TLS session with ${this.remote} failed after the handshake: ${err.message}`, `the session failed after the handshake (${err.reason})`, { cause: err });
    }
    this.opts.logger?.debug(
      { remote: this.remote, protocol: info.protocol, cipher: info.cipher, authorized: info.authorized, authorizationError: info.authorizationError },
      'smtp client: TLS started',
    );
    return info;
  }

  /** MAIL FROM:<from> with ESMTP parameters ("SIZE=1234", "BODY=8BITMIME"); "" is the null reverse-path. */
  mail(from: string, params: readonly string[] = []): Promise<Reply> {
    return this.command(mailCommand(from, params), 'mail', this.opts.timeouts.command);
  }

  rcpt(to: string): Promise<Reply> {
    return this.command(rcptCommand(to), 'rcpt', this.opts.timeouts.command);
  }

  /** The DATA command alone; 354 means "send the message" (then sendBody). */
  data(): Promise<Reply> {
    return this.command('DATA', 'data', this.opts.timeouts.dataInit);
  }

  /**
   * MAIL, every RCPT, then DATA when a recipient was accepted. With PIPELINING they go out in one write and the
   * replies are read in order (RFC 2920 §3.1); every reply is checked, and a 354 given although no recipient was
   * accepted is closed with a lone dot, as RFC 2920 §3.1 asks. Then a 354 in `data` means: call sendBody().
   */
  async envelope(from: string, params: readonly string[], recipients: readonly string[]): Promise<EnvelopeReplies> {
    const t = this.opts.timeouts;
    if (!this.caps.pipelining) {
      const mail = await this.mail(from, params);
      if (!isPositive(mail)) return { mail, rcpts: [], data: null };
      const rcpts: Reply[] = [];
      for (const to of recipients) rcpts.push(await this.rcpt(to));
      return { mail, rcpts, data: rcpts.some(isPositive) ? await this.data() : null };
    }
    const group = [mailCommand(from, params), ...recipients.map(rcptCommand), 'DATA'];
    this.trace(group.join(' | '));
    this.conn.send(group.map((c) => `${c}\r\n`).join(''));
    const mail = await this.read('mail', t.command);
    const rcpts: Reply[] = [];
    for (let i = 0; i < recipients.length; i++) rcpts.push(await this.read('rcpt', t.command));
    const data = await this.read('data', t.dataInit);
    if (data.code === 354 && !(isPositive(mail) && rcpts.some(isPositive))) {
      this.conn.send('.\r\n');
      await this.read('final-dot', t.dataEnd);
    }
    return { mail, rcpts, data };
  }

  /**
   * After a 354: streams the stored message (LF lines, not stuffed) in wire form with backpressure, then the final
   * dot, and returns the reply to it. If the body cannot be read the connection is dropped before the dot, so the
   * server never takes a truncated message; the body's own error is rethrown. A server that refuses and closes
   * before the end gives RemoteReplyError with stage "body".
   */
  async sendBody(body: Iterable<Buffer> | AsyncIterable<Buffer>): Promise<Reply> {
    const t = this.opts.timeouts;
    const stuffer = new DotStuffer();
    try {
      // Each block is written once the next one is read, so that the last one leaves with the final dot: a small
      // message is then a single write. Leaving the loop by an exception closes the body (for-await calls return()).
      let held: Buffer | null = null;
      for await (const chunk of body) {
        const out = stuffer.push(chunk);
        if (out.length === 0) continue;
        if (held !== null) await this.conn.write(held, 'body', t.dataBlock);
        held = out;
      }
      const tail = [stuffer.end(), DOT_CRLF];
      await this.conn.write(Buffer.concat(held === null ? tail : [held, ...tail]), 'body', t.dataBlock);
    } catch (err) {
      // A server may refuse in the middle of the data and close (552 too big, 421): its reply says more than the
      // broken pipe. Only a refusal counts: a message cut short must never pass for delivered.
      const early = err instanceof ConnectionLostError ? this.conn.takeReply() : undefined;
      this.conn.destroy();
      if (early !== undefined && !isPositive(early)) throw new RemoteReplyError('body', early);
      throw err;
    }
    this.trace('<message> .');
    return this.read('final-dot', t.dataEnd);
  }

  /** QUIT and close; never throws: by now the transaction's outcome is known and a rude server changes nothing. */
  async quit(): Promise<void> {
    try {
      await this.command('QUIT', 'quit', this.opts.timeouts.command);
    } catch (err) {
      this.opts.logger?.debug({ remote: this.remote, err: (err as Error).message }, 'smtp client: QUIT failed');
    }
    await this.conn.end(this.opts.timeouts.command);
  }

  /** Drops the connection without QUIT. */
  close(): void {
    this.conn.destroy();
  }

  private async command(line: string, stage: ClientStage, ms: number): Promise<Reply> {
    this.trace(line);
    this.conn.send(`${line}\r\n`);
    return this.read(stage, ms);
  }

  /** The next reply; a 421 ends the session at any step (RFC 5321 §3.8), so it is thrown, and the socket dropped. */
  private async read(stage: ClientStage, ms: number): Promise<Reply> {
    const r = await this.conn.readReply(stage, ms);
    this.opts.logger?.debug({ remote: this.remote, s: replyText(r) }, 'smtp client: reply');
    if (r.code === 421) {
      this.conn.destroy();
      throw new RemoteReplyError(stage, r);
    }
    return r;
  }

  private trace(line: string): void {
    this.opts.logger?.debug({ remote: this.remote, c: line }, 'smtp client: command');
  }
}

/** MAIL FROM:<from> with its parameters (shared with the LMTP client). */
export function mailCommand(from: string, params: readonly string[]): string {
  return `MAIL FROM:<${safe(from)}>${params.map((p) => ` ${safe(p)}`).join('')}`;
}

/** RCPT TO:<to> (shared with the LMTP client). */
export function rcptCommand(to: string): string {
  return `RCPT TO:<${safe(to)}>`;
}

/** A line break inside an argument would add a command of its own: refuse (this is a bug upstream, never data). */
function safe(arg: string): string {
  if (/[\r\n\0]/.test(arg)) throw new Error(`refusing to send a command argument with CR, LF or NUL: ${JSON.stringify(arg)}`);
  return arg;
}
