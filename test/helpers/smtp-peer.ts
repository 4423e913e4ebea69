// Remote SMTP servers for tests: a real one (nodemailer's smtp-server) with scriptable answers, and a raw scripted one.
import net from 'node:net';
import tls from 'node:tls';
import { SMTPServer, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';
import { testCert } from './test-cert.js';

/** A reply the peer gives instead of accepting: code and text ("550", "No such user"). */
export interface PeerReply {
  readonly code: number;
  readonly text?: string;
}

/** A message the peer received in full (after the final dot), whatever it answered to it. */
export interface ReceivedMessage {
  /** The reverse-path, "" for <>. */
  readonly from: string;
  /** The recipients the peer accepted. */
  readonly to: readonly string[];
  /** The message as smtp-server hands it out: dot-unstuffed, CRLF line endings, without the final dot. */
  readonly body: Buffer;
  /** MAIL parameters, keys upper-cased ("SIZE", "BODY", "SMTPUTF8"). */
  readonly params: Readonly<Record<string, unknown>>;
  /** The session ran in TLS (after STARTTLS). */
  readonly secure: boolean;
  /** The TLS protocol ("TLSv1.3"), null in plain text. */
  readonly tlsProtocol: string | null;
  /** The reply code the peer gave after the dot (250 unless `dataReply` said otherwise). */
  readonly code: number;
  /** The client's address as the peer saw it (for an SPF check of the sender, say). */
  readonly remoteAddress: string;
}

export interface SmtpPeerOptions {
  /** A loopback address: "127.0.0.1" (default), "127.0.0.2", … or "::1". */
  readonly host?: string;
  /** 0 (default) for a free port; tests that share one port between several peers pass it explicitly. */
  readonly port?: number;
  /** The name in the greeting and EHLO reply. */
  readonly name?: string;
  /** Offer STARTTLS, with the test certificate (default false). */
  readonly starttls?: boolean;
  /**
   * The certificate (PEM, with its chain) and key STARTTLS presents instead of the self-signed "localhost" one:
   * e.g. one from a test CA (helpers/test-ca.ts) for tests that verify it.
   */
  readonly certificate?: { readonly cert: string; readonly key: string };
  /**
   * Offer STARTTLS, answer it with 220, then fail the handshake: the peer only speaks TLS 1.0/1.1, which no
   * default Node.js client accepts (their minimum is TLS 1.2), so the handshake ends with a protocol_version alert.
   */
  readonly brokenTls?: boolean;
  /** SIZE to advertise (default: none). */
  readonly size?: number;
  /** Offer PIPELINING (default true). */
  readonly pipelining?: boolean;
  /** Offer 8BITMIME and SMTPUTF8 (default true). */
  readonly eightBitMime?: boolean;
  readonly smtputf8?: boolean;
  /** Refuse the connection with this reply instead of the 220 greeting (then close). */
  readonly greetingReply?: PeerReply;
  /** The answer to MAIL FROM; undefined: 250. */
  readonly mailReply?: (from: string) => PeerReply | undefined;
  /** The answer to each RCPT TO; undefined: 250. */
  readonly rcptReply?: (to: string) => PeerReply | undefined;
  /** The answer after the final dot; undefined: 250. */
  readonly dataReply?: (message: Omit<ReceivedMessage, 'code'>) => PeerReply | undefined;
}

export interface SmtpPeer {
  readonly host: string;
  readonly port: number;
  /** Every complete message received, in order. */
  readonly messages: readonly ReceivedMessage[];
  /** Every MAIL command the peer saw, with whether the session was in TLS (to check nothing went out in clear). */
  readonly mails: readonly { readonly from: string; readonly secure: boolean }[];
  /** How many TCP connections were accepted. */
  readonly connections: () => number;
  /** Errors smtp-server reported (failed TLS handshakes, connections dropped by the client…). */
  readonly errors: readonly Error[];
  /**
   * Resolves with `messages` once at least `count` messages have been received (at once if they already were);
   * rejects after timeoutMs (default 10 s) saying how many came.
   */
  waitForMessages(count: number, timeoutMs?: number): Promise<readonly ReceivedMessage[]>;
  close(): Promise<void>;
}

const fail = (r: PeerReply): Error => Object.assign(new Error(r.text ?? `refused with ${r.code}`), { responseCode: r.code });

/**
 * Starts nodemailer's smtp-server on a loopback address. It is a complete, independent SMTP implementation,
 * so what it accepts is what a real MX would accept. AUTH is disabled, as on an MX. smtp-server waits 100 ms
 * before its greeting (to catch clients that talk too early), so each session costs about that much.
 *
 * The outbound transfer dials one port on every MX host, so a test that needs several hosts starts the first peer
 * on port 0 and the others on that same port at other loopback addresses: all of 127.0.0.0/8 is local on Linux
 * (127.0.0.2, 127.0.0.3, …), and "::1" gives an IPv6 host. An address with nothing bound refuses connections.
 */
export async function startSmtpPeer(opts: SmtpPeerOptions = {}): Promise<SmtpPeer> {
  const host = opts.host ?? '127.0.0.1';
  const messages: ReceivedMessage[] = [];
  const mails: { from: string; secure: boolean }[] = [];
  let connections = 0;
  /** Called after each message received, by waitForMessages. */
  const onMessage = new Set<() => void>();
  const tlsOffered = opts.starttls === true || opts.brokenTls === true;
  const cert = !tlsOffered ? null : (opts.certificate ?? (await testCert()));
  const options: SMTPServerOptions = {
    logger: false,
    // Do not wait for lingering clients when a test closes the peer.
    closeTimeout: 100,
    disabledCommands: tlsOffered ? ['AUTH'] : ['AUTH', 'STARTTLS'],
    authOptional: true,
    disableReverseLookup: true,
    hidePIPELINING: opts.pipelining === false,
    hide8BITMIME: opts.eightBitMime === false,
    hideSMTPUTF8: opts.smtputf8 === false,
    ...(opts.name !== undefined ? { name: opts.name } : {}),
    ...(opts.size !== undefined ? { size: opts.size } : {}),
    ...(cert !== null ? { key: cert.key, cert: cert.cert } : {}),
    ...(opts.brokenTls === true ? { minVersion: 'TLSv1' as const, maxVersion: 'TLSv1.1' as const } : {}),
    onConnect(_session, callback) {
      connections++;
      callback(opts.greetingReply !== undefined ? fail(opts.greetingReply) : null);
    },
    onMailFrom(address, session, callback) {
      mails.push({ from: address.address, secure: session.secure });
      const r = opts.mailReply?.(address.address);
      callback(r !== undefined ? fail(r) : null);
    },
    onRcptTo(address, _session, callback) {
      const r = opts.rcptReply?.(address.address);
      callback(r !== undefined ? fail(r) : null);
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const message = received(session, Buffer.concat(chunks));
        const r = opts.dataReply?.(message);
        messages.push({ ...message, code: r?.code ?? 250 });
        for (const notify of [...onMessage]) notify();
        callback(r !== undefined ? fail(r) : null);
      });
    },
  };
  const server = new SMTPServer(options);
  // smtp-server reports a client's failed TLS handshake or a dropped connection as an 'error' event: expected here.
  const errors: Error[] = [];
  server.on('error', (err: Error) => errors.push(err));
  const port = await new Promise<number>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.server.off('error', reject);
      resolve((server.server.address() as net.AddressInfo).port);
    });
  });
  return {
    host,
    port,
    messages,
    mails,
    connections: () => connections,
    errors,
    waitForMessages: (count, timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          if (messages.length < count) return;
          clearTimeout(timer);
          onMessage.delete(check);
          resolve(messages);
        };
        const timer = setTimeout(() => {
          onMessage.delete(check);
          reject(new Error(`the peer on ${host}:${port} received ${messages.length} messages within ${timeoutMs} ms, expected ${count}`));
        }, timeoutMs);
        onMessage.add(check);
        check();
      }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * A TCP port free on 127.0.0.1 right now (bound to port 0, then closed), for the tests that must write a port into
 * a config before anything listens on it: the relay's smtp_port, shared by every peer on 127.0.0.x and ::1.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Whether ::1 can be bound here (IPv6 may be disabled in a container): tests needing it skip themselves otherwise. */
export async function hasIpv6Loopback(): Promise<boolean> {
  const server = net.createServer();
  const ok = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(0, '::1', () => resolve(true));
  });
  if (ok) await new Promise<void>((resolve) => server.close(() => resolve()));
  return ok;
}

function received(session: SMTPServerSession, body: Buffer): Omit<ReceivedMessage, 'code'> {
  const env = session.envelope;
  return {
    from: env.mailFrom === false ? '' : env.mailFrom.address,
    to: env.rcptTo.map((r) => r.address),
    body,
    params: env.mailFrom === false || env.mailFrom.args === false ? {} : { ...env.mailFrom.args },
    secure: session.secure,
    tlsProtocol: session.secure && session.tlsOptions !== false ? (session.tlsOptions.version ?? null) : null,
    remoteAddress: session.remoteAddress,
  };
}

// ---------------------------------------------------------------------------------------------------------------

/** One connection to the scripted peer, as its handlers see it. */
export interface ScriptedSession {
  /** Every command line received so far on this connection (without CRLF), in order. */
  readonly lines: readonly string[];
  /** Writes raw bytes (replies must carry their own CRLF). */
  write(raw: string): void;
  /** Drops the connection at once. */
  close(): void;
  /** Closes our side after what was written (FIN), still reading what the client sends. */
  end(): void;
  /** Settles once the connection is closed, by either side. */
  readonly closed: Promise<void>;
}

/**
 * What a handler answers: raw reply text with its CRLFs, "close" to drop the connection, null for no reply, or
 * { startTls } to write that raw text (normally "220 …\r\n", plus anything a test wants to inject after it) and then
 * run a TLS handshake as the server, with the test certificate; the dialogue goes on inside TLS.
 */
export type ScriptedAnswer = string | 'close' | null | { readonly startTls: string };

export interface ScriptedPeerOptions {
  readonly host?: string;
  readonly port?: number;
  /** Raw greeting (default "220 scripted.test ESMTP\r\n"); "close" to accept and drop at once. */
  readonly greeting?: string;
  /**
   * Answers one command line. An answer starting with "354" puts the session in data mode: the bytes up to the
   * final CRLF.CRLF go to onData, as they came on the wire (still dot-stuffed).
   */
  readonly onCommand: (line: string, session: ScriptedSession) => ScriptedAnswer;
  /** Answers the end of the data (default "250 2.0.0 ok\r\n"). */
  readonly onData?: (wire: Buffer, session: ScriptedSession) => ScriptedAnswer;
  /**
   * From a command line matching `from`, hold every reply until a line matching `until` arrives, then send them all
   * at once: a client that waits for each reply before its next command (no pipelining) would never get there.
   */
  readonly holdReplies?: { readonly from: RegExp; readonly until: RegExp };
}

export interface ScriptedPeer {
  readonly host: string;
  readonly port: number;
  /** Every message's data as received on the wire (dot-stuffed, CRLF), in order. */
  readonly data: readonly Buffer[];
  /** The sessions, in order of connection. */
  readonly sessions: readonly ScriptedSession[];
  close(): Promise<void>;
}

const END_OF_DATA = Buffer.from('\r\n.\r\n');

/**
 * A raw SMTP speaker for what smtp-server cannot be made to do: refuse EHLO, send odd multiline replies, close
 * the connection after the final dot, answer 421 in the middle of a transaction, and so on.
 */
export async function startScriptedPeer(opts: ScriptedPeerOptions): Promise<ScriptedPeer> {
  const host = opts.host ?? '127.0.0.1';
  const cert = await testCert();
  const secureContext = tls.createSecureContext({ cert: cert.cert, key: cert.key });
  const data: Buffer[] = [];
  const sessions: ScriptedSession[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const lines: string[] = [];
    let held: string[] | null = null;
    /** The socket the dialogue runs on: the TCP socket, then the TLS one after a { startTls } answer. */
    let io: net.Socket = socket;
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    const session: ScriptedSession = {
      lines,
      write: (raw) => io.write(raw),
      close: () => io.destroy(),
      end: () => io.end(),
      closed,
    };
    sessions.push(session);
    const answer = (a: ScriptedAnswer): void => {
      if (a === 'close') io.destroy();
      else if (a !== null && typeof a !== 'string') startTls(a.startTls);
      else if (a !== null && held !== null) held.push(a);
      else if (a !== null) io.write(a);
    };
    const greeting = opts.greeting ?? '220 scripted.test ESMTP\r\n';
    if (greeting === 'close') return void socket.destroy();
    socket.write(greeting);
    let buffer = Buffer.alloc(0);
    let inData = false;
    const startTls = (raw: string): void => {
      socket.write(raw);
      // Plain-text bytes pipelined after STARTTLS are dropped, as a server must (RFC 3207 §4.2).
      socket.removeListener('data', onData);
      buffer = Buffer.alloc(0);
      const secure = new tls.TLSSocket(socket, { isServer: true, secureContext });
      secure.on('error', () => undefined);
      secure.on('data', onData);
      io = secure;
    };
    const onData = (chunk: Buffer): void => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        if (inData) {
          // The data may end right after the 354, with an empty message: ".\r\n" first.
          const atStart = buffer.subarray(0, 3).equals(Buffer.from('.\r\n'));
          const end = atStart ? 0 : buffer.indexOf(END_OF_DATA);
          if (end < 0) return;
          const wire = buffer.subarray(0, atStart ? 0 : end + 2);
          buffer = buffer.subarray(atStart ? 3 : end + END_OF_DATA.length);
          inData = false;
          data.push(Buffer.from(wire));
          answer(opts.onData?.(wire, session) ?? '250 2.0.0 ok\r\n');
          continue;
        }
        const lf = buffer.indexOf(0x0a);
        if (lf < 0 || io.destroyed) return;
        const line = buffer.subarray(0, lf).toString('utf8').replace(/\r$/, '');
        buffer = buffer.subarray(lf + 1);
        lines.push(line);
        if (opts.holdReplies?.from.test(line) === true) held ??= [];
        const a = opts.onCommand(line, session);
        if (typeof a === 'string' && a.startsWith('354')) inData = true;
        answer(a);
        if (held !== null && opts.holdReplies?.until.test(line) === true) {
          io.write(held.join(''));
          held = null;
        }
      }
    };
    socket.on('data', onData);
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
  return {
    host,
    port,
    data,
    sessions,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
