// The load generator: many parallel SMTP sessions over raw sockets, each a small state machine on precomputed bytes.
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { MessageBytes } from './message.js';
import { ReplyScanner } from './reply-scanner.js';

export interface LoadOptions {
  readonly host: string;
  readonly port: number;
  /** Sessions running in parallel; each opens a new connection when its previous one is done. */
  readonly sessions: number;
  /** Messages to send in total, shared between the sessions. */
  readonly messages: number;
  /** Messages sent over one connection before QUIT (1: a connection per message; Infinity: as many as possible). */
  readonly perConnection: number;
  /** Send MAIL, RCPT and DATA in one write when the server offers PIPELINING (RFC 2920). */
  readonly pipelining: boolean;
  readonly message: MessageBytes;
  readonly from: string;
  readonly recipients: readonly string[];
  readonly heloName: string;
  /** No byte from the server for this long fails the connection. */
  readonly idleTimeoutMs: number;
  /** Implicit TLS from the first byte (RFC 8314, port 465 style); the certificate is not verified. */
  readonly tls?: boolean;
  /** Offer each new connection the TLS session of an earlier one (RFC 8446 §2.2 resumption), as mail clients that keep running do. */
  readonly tlsResume?: boolean;
  /** Log in with AUTH PLAIN (initial response) after EHLO. */
  readonly auth?: { readonly user: string; readonly password: string } | null;
}

export interface LoadResult {
  readonly accepted: number;
  readonly failed: number;
  /** Failure causes ("550", "ECONNRESET", "timeout"...) and how many messages each cost. */
  readonly errors: Record<string, number>;
  readonly connections: number;
  /** performance.now() at the first connection attempt and when the last session ended. */
  readonly startMs: number;
  readonly endMs: number;
  /** Per accepted message: from the last octet of the final dot written to the reply to DATA, in ms. */
  readonly dataLatenciesMs: Float64Array;
  /** Per connection's first accepted message: from connect() to that reply, in ms (a new session's whole cost). */
  readonly sessionLatenciesMs: Float64Array;
}

const enum Step {
  Greeting,
  Ehlo,
  Auth,
  Mail,
  Rcpt,
  Data,
  DataEnd,
  Quit,
  Done,
}

/** State shared by the sessions of one run. */
class Run {
  remaining: number;
  accepted = 0;
  failed = 0;
  connections = 0;
  active = 0;
  readonly errors: Record<string, number> = {};
  readonly dataLatencies: Float64Array;
  readonly sessionLatencies: Float64Array;
  sessionCount = 0;
  readonly ehlo: Buffer;
  readonly mail: Buffer;
  readonly rcpts: Buffer[];
  readonly data = Buffer.from('DATA\r\n', 'latin1');
  readonly quit = Buffer.from('QUIT\r\n', 'latin1');
  /** AUTH PLAIN with its initial response, or null without a login. */
  readonly auth: Buffer | null;
  /** The last TLS session ticket received, offered by the next connection when resuming. */
  tlsSession: Buffer | undefined = undefined;
  /** MAIL, every RCPT and DATA: the pipelined envelope. */
  readonly envelope: Buffer;
  readonly startMs = performance.now();
  endMs = 0;

  constructor(
    readonly opts: LoadOptions,
    readonly done: (r: LoadResult) => void,
  ) {
    this.remaining = opts.messages;
    this.dataLatencies = new Float64Array(opts.messages);
    this.sessionLatencies = new Float64Array(opts.messages);
    this.ehlo = Buffer.from(`EHLO ${opts.heloName}\r\n`, 'latin1');
    this.mail = Buffer.from(`MAIL FROM:<${opts.from}> SIZE=${opts.message.size}\r\n`, 'latin1');
    this.rcpts = opts.recipients.map((r) => Buffer.from(`RCPT TO:<${r}>\r\n`, 'latin1'));
    this.envelope = Buffer.concat([this.mail, ...this.rcpts, this.data]);
    const a = opts.auth ?? null;
    this.auth = a === null ? null : Buffer.from(`AUTH PLAIN ${Buffer.from(`\0${a.user}\0${a.password}`).toString('base64')}\r\n`, 'latin1');
  }

  take(): boolean {
    if (this.remaining === 0) return false;
    this.remaining--;
    return true;
  }

  fail(cause: string): void {
    this.failed++;
    this.errors[cause] = (this.errors[cause] ?? 0) + 1;
  }

  sessionEnded(): void {
    if (this.take()) {
      new Session(this).start();
      return;
    }
    if (--this.active === 0) {
      this.endMs = performance.now();
      this.done({
        accepted: this.accepted,
        failed: this.failed,
        errors: this.errors,
        connections: this.connections,
        startMs: this.startMs,
        endMs: this.endMs,
        dataLatenciesMs: this.dataLatencies.subarray(0, this.accepted),
        sessionLatenciesMs: this.sessionLatencies.subarray(0, this.sessionCount),
      });
    }
  }
}

/** One connection: greeting, EHLO, then transactions until its share is sent, then QUIT. */
class Session {
  private socket: Socket | null = null;
  private step = Step.Greeting;
  private pipelining = false;
  /** Replies still expected for the current step (the pipelined envelope expects 1 + recipients + 1). */
  private pending = 0;
  /** The first refusal among the pipelined envelope's replies, 0 while all are positive. */
  private envelopeRefusal = 0;
  private sentOnConnection = 0;
  /** A message was taken from the run and is not yet accepted or failed. */
  private inFlight = true;
  private readonly connectAt = performance.now();
  private dataEndAt = 0;
  private readonly scanner = new ReplyScanner((code, last, buf, start, end) => this.line(code, last, buf, start, end));

  constructor(private readonly run: Run) {}

  start(): void {
    const { opts } = this.run;
    this.run.connections++;
    const socket = opts.tls === true
      ? this.tlsSocket()
      : connect({ host: opts.host, port: opts.port, noDelay: true });
    this.socket = socket;
    socket.setTimeout(opts.idleTimeoutMs, () => this.abort('timeout'));
    socket.on('data', (chunk: Buffer) => this.scanner.feed(chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => this.abort(err.code ?? 'socket error'));
    socket.on('close', () => this.abort('closed by server'));
  }

  private tlsSocket(): Socket {
    const run = this.run;
    const { host, port, tlsResume } = run.opts;
    const socket = tlsConnect({ host, port, rejectUnauthorized: false, servername: 'bench.test', ...(tlsResume === true ? { session: run.tlsSession } : {}) });
    if (tlsResume === true) socket.on('session', (s: Buffer) => (run.tlsSession = s));
    return socket.setNoDelay(true);
  }

  private line(code: number, last: boolean, buf: Buffer, start: number, end: number): void {
    if (this.step === Step.Ehlo && end - start >= 14 && buf.subarray(start + 4, start + 14).toString('latin1').toUpperCase() === 'PIPELINING') {
      this.pipelining = true;
    }
    if (last) this.reply(code);
  }

  private reply(code: number): void {
    const run = this.run;
    const socket = this.socket!;
    switch (this.step) {
      case Step.Greeting:
        if (code !== 220) return this.abort(String(code));
        this.step = Step.Ehlo;
        socket.write(run.ehlo);
        return;
      case Step.Ehlo:
        if (code !== 250) return this.abort(String(code));
        if (run.auth !== null) {
          this.step = Step.Auth;
          socket.write(run.auth);
          return;
        }
        return this.beginTransaction();
      case Step.Auth:
        if (code !== 235) return this.abort(String(code));
        return this.beginTransaction();
      case Step.Mail:
        if (this.pipelining && run.opts.pipelining) return this.envelopeReply(code);
        if (code !== 250) return this.abort(String(code));
        this.step = Step.Rcpt;
        this.pending = 0;
        socket.write(run.rcpts[0]!);
        return;
      case Step.Rcpt:
        if (code !== 250 && code !== 251) return this.abort(String(code));
        if (++this.pending < run.rcpts.length) {
          socket.write(run.rcpts[this.pending]!);
          return;
        }
        this.step = Step.Data;
        socket.write(run.data);
        return;
      case Step.Data:
        if (code !== 354) return this.abort(String(code));
        return this.sendMessage();
      case Step.DataEnd:
        return this.dataEnd(code);
      case Step.Quit:
        this.finish();
        return;
      case Step.Done:
        return;
    }
  }

  private beginTransaction(): void {
    const run = this.run;
    this.step = Step.Mail;
    if (this.pipelining && run.opts.pipelining) {
      this.pending = 2 + run.rcpts.length;
      this.envelopeRefusal = 0;
      this.socket!.write(run.envelope);
    } else {
      this.socket!.write(run.mail);
    }
  }

  /** Replies to a pipelined MAIL, RCPT..., DATA: all must come before the body may go (RFC 2920 §3.1). */
  private envelopeReply(code: number): void {
    this.pending--;
    if (this.pending > 0) {
      if (code !== 250 && code !== 251 && this.envelopeRefusal === 0) this.envelopeRefusal = code;
      return;
    }
    if (this.envelopeRefusal !== 0) return this.abort(String(this.envelopeRefusal));
    if (code !== 354) return this.abort(String(code));
    this.sendMessage();
  }

  private sendMessage(): void {
    const socket = this.socket!;
    const msg = this.run.opts.message;
    this.step = Step.DataEnd;
    if (msg.whole !== null) {
      socket.write(msg.whole);
      this.dataEndAt = performance.now();
      return;
    }
    // A large message: the body block by block, waiting for the socket to drain (the client stays small too).
    socket.write(msg.head);
    let left = msg.repeat;
    const pump = (): void => {
      while (left > 0) {
        left--;
        if (!socket.write(msg.middle)) {
          socket.once('drain', pump);
          return;
        }
      }
      socket.write(msg.tail);
      this.dataEndAt = performance.now();
    };
    pump();
  }

  private dataEnd(code: number): void {
    const run = this.run;
    if (code !== 250) return this.abort(String(code));
    const now = performance.now();
    run.dataLatencies[run.accepted++] = now - this.dataEndAt;
    if (this.sentOnConnection++ === 0) run.sessionLatencies[run.sessionCount++] = now - this.connectAt;
    this.inFlight = false;
    if (this.sentOnConnection < run.opts.perConnection && run.take()) {
      this.inFlight = true;
      return this.beginTransaction();
    }
    this.step = Step.Quit;
    this.socket!.write(run.quit);
  }

  /** QUIT answered: the next connection starts at once, without waiting for the server's close. */
  private finish(): void {
    this.step = Step.Done;
    this.socket!.destroy();
    this.run.sessionEnded();
  }

  private abort(cause: string): void {
    if (this.step === Step.Done) return;
    if (this.step === Step.Quit) return this.finish(); // a close instead of 221 after the work is done
    this.step = Step.Done;
    if (this.inFlight) this.run.fail(cause);
    this.socket?.destroy();
    this.run.sessionEnded();
  }
}

/** Sends every message; resolves once each was accepted or failed and every connection is done. */
export function runLoad(opts: LoadOptions): Promise<LoadResult> {
  return new Promise((resolve) => {
    const run = new Run(opts, resolve);
    const sessions = Math.min(opts.sessions, opts.messages);
    if (sessions <= 0) {
      run.active = 1;
      return run.sessionEnded();
    }
    for (let i = 0; i < sessions; i++) {
      run.take();
      run.active++;
      new Session(run).start();
    }
  });
}

/** The value below which `p` (0..1) of the samples fall, by nearest rank; NaN without samples. */
export function percentile(samples: Float64Array, p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = Float64Array.from(samples).sort();
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

/** The HELO name of the cells' sessions (the mail authentication scenarios publish SPF for it). */
export const HELO_NAME = 'client.bench.test';

/** The load of one benchmark cell against a port: `n` messages over `sessions` sessions from FROM to TO. */
export function cellLoad(opts: {
  readonly port: number;
  readonly perConnection: 'one' | 'many';
  readonly pipelining: boolean;
  readonly message: MessageBytes;
  readonly from: string;
  readonly to: string;
  readonly tls?: boolean;
  readonly tlsResume?: boolean;
  readonly auth?: { readonly user: string; readonly password: string } | null;
}): (n: number, sessions: number) => Promise<LoadResult> {
  return (n, sessions) =>
    runLoad({
      host: '127.0.0.1',
      port: opts.port,
      sessions,
      messages: n,
      perConnection: opts.perConnection === 'one' ? 1 : Number.POSITIVE_INFINITY,
      pipelining: opts.pipelining,
      message: opts.message,
      from: opts.from,
      recipients: [opts.to],
      heloName: HELO_NAME,
      idleTimeoutMs: 120_000,
      tls: opts.tls ?? false,
      tlsResume: opts.tlsResume ?? false,
      auth: opts.auth ?? null,
    });
}
