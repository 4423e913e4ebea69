// The LMTP client (RFC 2033): LHLO, MAIL, RCPT, DATA with one reply per accepted recipient, over a Unix socket or TCP.
import type { Logger } from '../../observability/logger.js';
import { isPositive, type Reply, replyText } from '../../mail/reply.js';
import { DotStuffer } from '../wire/dot-stuff.js';
import { ClientConnection } from './client-connection.js';
import { type ClientStage, RemoteReplyError } from './client-errors.js';
import { Capabilities } from './ehlo-capabilities.js';
import { mailCommand, rcptCommand } from './smtp-client.js';

/** Where the LMTP server listens. */
export type LmtpAddress = { readonly path: string } | { readonly host: string; readonly port: number };

export interface LmtpConnectOptions {
  readonly address: LmtpAddress;
  /** Our name in LHLO. */
  readonly localHostname: string;
  /** Every wait, in ms: connect, greeting, each command, each block of data, the replies after the dot. */
  readonly timeout: number;
  readonly logger?: Logger;
  readonly signal?: AbortSignal;
}

const DOT_CRLF = Buffer.from('.\r\n');

/**
 * One LMTP session. Unlike SMTP, the server answers the final dot once per recipient it accepted, in RCPT order
 * (RFC 2033 §4.2): finish() returns those replies, and the caller judges each recipient apart. EHLO does not
 * exist (LHLO replaces it, §4.1), and the server must offer PIPELINING and ENHANCEDSTATUSCODES (§5).
 */
export class LmtpClient {
  private caps = Capabilities.none();
  /** Recipients answered 2xx in this transaction: the number of replies the final dot brings. */
  private accepted = 0;
  private stuffer: DotStuffer | null = null;

  private constructor(
    private readonly conn: ClientConnection,
    private readonly opts: LmtpConnectOptions,
    readonly greeting: Reply,
  ) {}

  /** Connects, reads the 220 greeting and says LHLO; anything else throws RemoteReplyError (greeting, lhlo). */
  static async connect(opts: LmtpConnectOptions): Promise<LmtpClient> {
    const { address, timeout, signal } = opts;
    const conn = 'path' in address ? await ClientConnection.openUnix(address.path, timeout, signal) : await ClientConnection.open(address.host, address.port, timeout, signal);
    try {
      const greeting = await conn.readReply('greeting', timeout);
      if (greeting.code !== 220) throw new RemoteReplyError('greeting', greeting);
      const client = new LmtpClient(conn, opts, greeting);
      const lhlo = await client.command(`LHLO ${opts.localHostname}`, 'lhlo');
      if (lhlo.code !== 250) throw new RemoteReplyError('lhlo', lhlo);
      client.caps = Capabilities.fromEhlo(lhlo);
      return client;
    } catch (err) {
      conn.destroy();
      throw err;
    }
  }

  get remote(): string {
    return this.conn.remote;
  }

  get capabilities(): Capabilities {
    return this.caps;
  }

  /** MAIL FROM; "" is the null reverse-path. Starts a transaction. */
  mail(from: string, params: readonly string[] = []): Promise<Reply> {
    this.accepted = 0;
    return this.command(mailCommand(from, params), 'mail');
  }

  /** RCPT TO; a 2xx counts the recipient among those the final dot answers for. */
  async rcpt(to: string): Promise<Reply> {
    const r = await this.command(rcptCommand(to), 'rcpt');
    if (isPositive(r)) this.accepted += 1;
    return r;
  }

  /** Recipients accepted so far in this transaction. */
  get acceptedRecipients(): number {
    return this.accepted;
  }

  /** DATA; a 354 means: write() the message, then finish(). */
  async data(): Promise<Reply> {
    const r = await this.command('DATA', 'data');
    if (r.code === 354) this.stuffer = new DotStuffer();
    return r;
  }

  /** Message text as stored (LF lines, not stuffed), in order; waits while the socket's buffer is full. */
  async write(chunk: Buffer): Promise<void> {
    if (this.stuffer === null) throw new Error('LMTP write before a 354 to DATA');
    const out = this.stuffer.push(chunk);
    if (out.length > 0) await this.conn.write(out, 'body', this.opts.timeout);
  }

  /**
   * The final dot, then one reply per accepted recipient, in RCPT order (RFC 2033 §4.2). A connection lost before
   * every reply came throws: the caller cannot tell which of the missing ones were delivered, and must treat them as
   * not delivered (the server, too, answers only once a recipient's copy is stored). `onReply` sees each reply as it
   * comes, so that those received before a failure are not lost with it.
   */
  async finish(onReply: (r: Reply) => void = () => undefined): Promise<Reply[]> {
    if (this.stuffer === null) throw new Error('LMTP finish before a 354 to DATA');
    const tail = Buffer.concat([this.stuffer.end(), DOT_CRLF]);
    this.stuffer = null;
    await this.conn.write(tail, 'body', this.opts.timeout);
    this.trace('<message> .');
    const replies: Reply[] = [];
    for (let i = 0; i < this.accepted; i++) {
      const r = await this.read('final-dot');
      replies.push(r);
      onReply(r);
    }
    this.accepted = 0;
    return replies;
  }

  /** RSET: the transaction is forgotten, the session kept (RFC 5321 §4.1.1.5). */
  async rset(): Promise<Reply> {
    this.accepted = 0;
    return this.command('RSET', 'mail');
  }

  /** QUIT and close; never throws. */
  async quit(): Promise<void> {
    try {
      await this.command('QUIT', 'quit');
    } catch (err) {
      this.opts.logger?.debug({ remote: this.remote, err: (err as Error).message }, 'lmtp client: QUIT failed');
    }
    await this.conn.end(this.opts.timeout);
  }

  /** Drops the connection without QUIT. */
  close(): void {
    this.conn.destroy();
  }

  private async command(line: string, stage: ClientStage): Promise<Reply> {
    this.trace(line);
    this.conn.send(`${line}\r\n`);
    return this.read(stage);
  }

  /** The next reply; a 421 ends the session (RFC 5321 §3.8): thrown, and the socket dropped. */
  private async read(stage: ClientStage): Promise<Reply> {
    const r = await this.conn.readReply(stage, this.opts.timeout);
    this.opts.logger?.debug({ remote: this.remote, s: replyText(r) }, 'lmtp client: reply');
    if (r.code === 421) {
      this.conn.destroy();
      throw new RemoteReplyError(stage, r);
    }
    return r;
  }

  private trace(line: string): void {
    this.opts.logger?.debug({ remote: this.remote, c: line }, 'lmtp client: command');
  }
}
