// A raw-socket SMTP client for exact bytes, and the runner of the *.smtp transcripts in test/system/dialogs/.
import assert from 'node:assert/strict';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';

/** One reply as read off the wire (RFC 5321 §4.2.1): every line, and the enhanced code of the last one. */
export interface DialogReply {
  readonly code: number;
  /** "2.1.0", or null when the last line has none (greeting, EHLO). */
  readonly enhanced: string | null;
  /** Each line as sent, without its CRLF: "250-PIPELINING", "250 2.0.0 OK". */
  readonly lines: readonly string[];
}

export interface ConnectOptions {
  /** Implicit TLS (port 465 style); the certificate is not verified (the test server's is self-signed). */
  readonly tls?: boolean;
  /** Extra options for the TLS client (implicit TLS), e.g. { maxVersion: 'TLSv1.2' }. */
  readonly tlsOptions?: ConnectionOptions;
  /** The local address to connect from (any of 127.0.0.0/8 works on Linux): a client address of its own. */
  readonly localAddress?: string;
  /** Upper bound on every wait of this dialog, in ms (default 10 s): a broken server fails the test instead of hanging it. */
  readonly timeoutMs?: number;
  /**
   * Keep our side of the connection open after the server closes its own (TCP half-open), as a stalled or hostile
   * peer does (after STARTTLS too: the TLS layer runs over that same TCP socket).
   */
  readonly linger?: boolean;
}

const REPLY_LINE = /^(\d{3})([ -])(.*)$/s;
const ENHANCED = /^([245]\.\d{1,3}\.\d{1,3})(?: |$)/;

/**
 * SmtpDialog: write bytes, read whole replies. It never answers anything by itself and never adds a CRLF,
 * so tests can send exactly what an attacker or a broken client would.
 */
export class SmtpDialog {
  #socket: Socket;
  #buffer = Buffer.alloc(0);
  #closed = false;
  #error: Error | null = null;
  #wake: (() => void) | null = null;
  readonly #timeoutMs: number;

  private constructor(socket: Socket, timeoutMs: number) {
    this.#socket = socket;
    this.#timeoutMs = timeoutMs;
    this.#attach(socket);
  }

  /** Opens a connection to host:port (127.0.0.1 by default); resolves once connected (the greeting is not read). */
  static async connect(port: number, host = '127.0.0.1', opts: ConnectOptions = {}): Promise<SmtpDialog> {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const tlsOptions = { rejectUnauthorized: false, servername: 'mx.test', ...opts.tlsOptions };
    const local = opts.localAddress === undefined ? {} : { localAddress: opts.localAddress };
    // A TLS client that lingers must own the TCP socket beneath: a TLSSocket of its own closes when the server does.
    const raw = opts.linger === true ? netConnect({ host, port, allowHalfOpen: true, ...local }) : null;
    const socket = opts.tls
      ? tlsConnect(raw === null ? { host, port, ...local, ...tlsOptions } : { socket: raw, ...tlsOptions })
      : (raw ?? netConnect({ host, port, ...local }));
    await onceWithin(socket, opts.tls ? 'secureConnect' : 'connect', timeoutMs, `connect to ${host}:${port}`);
    return new SmtpDialog(socket, timeoutMs);
  }

  /** The current socket (a TLSSocket after startTls()). */
  get socket(): Socket {
    return this.#socket;
  }

  /** Writes bytes exactly as given (nothing appended); resolves once they are handed to the kernel. */
  send(data: string | Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#socket.write(data, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Writes one command line: the text plus CRLF. */
  command(line: string): Promise<void> {
    return this.send(`${line}\r\n`);
  }

  /** Reads one complete reply, multiline or not; rejects if the connection closes first or the wait is too long. */
  async reply(timeoutMs = this.#timeoutMs): Promise<DialogReply> {
    const deadline = AbortSignal.timeout(timeoutMs);
    const lines: string[] = [];
    for (;;) {
      const line = await this.#readLine(deadline, () => `a reply (got so far: ${JSON.stringify(lines)})`);
      const m = REPLY_LINE.exec(line) ?? /^(\d{3})()()$/.exec(line);
      if (m === null) throw new Error(`not an SMTP reply line: ${JSON.stringify(line)}`);
      if (lines.length > 0 && !lines[0]!.startsWith(m[1]!)) throw new Error(`reply code changed inside a reply: ${JSON.stringify([...lines, line])}`);
      lines.push(line);
      if (m[2] !== '-') {
        const enhanced = ENHANCED.exec(m[3] ?? '')?.[1] ?? null;
        return { code: Number(m[1]), enhanced, lines };
      }
    }
  }

  /** Sends a command line and reads its reply. */
  async ask(line: string): Promise<DialogReply> {
    await this.command(line);
    return this.reply();
  }

  /** Reads one reply and checks its code (and the enhanced code, if given); returns it. */
  async expect(code: number, enhanced?: string): Promise<DialogReply> {
    const r = await this.reply();
    assert.equal(r.code, code, `expected ${code}, got ${JSON.stringify(r.lines)}`);
    if (enhanced !== undefined) assert.equal(r.enhanced, enhanced, `expected ${code} ${enhanced}, got ${JSON.stringify(r.lines)}`);
    return r;
  }

  /** Waits until the server closes the connection; fails if it sends anything more first. */
  async expectClosed(timeoutMs = this.#timeoutMs): Promise<void> {
    const deadline = AbortSignal.timeout(timeoutMs);
    while (!this.#closed && this.#buffer.length === 0) await this.#waitForMore(deadline, 'the server to close the connection');
    assert.equal(this.#buffer.toString('latin1'), '', 'the server sent more before closing');
    assert.equal(this.#closed, true);
  }

  /**
   * Upgrades to TLS on the same socket (call it after the server's 220 to STARTTLS). Any plaintext the server
   * sent after its 220 is an error: RFC 3207 §4.2 says nothing may follow it before the handshake.
   */
  async startTls(opts: ConnectionOptions = {}): Promise<TLSSocket> {
    assert.equal(this.#buffer.length, 0, `plaintext after the 220 to STARTTLS: ${JSON.stringify(this.#buffer.toString('latin1'))}`);
    const plain = this.#socket;
    this.#detach(plain);
    const secure = tlsConnect({ socket: plain, rejectUnauthorized: false, servername: 'mx.test', ...opts });
    await onceWithin(secure, 'secureConnect', this.#timeoutMs, 'the TLS handshake');
    this.#socket = secure;
    this.#attach(secure);
    return secure;
  }

  /** Closes our side and frees the socket; safe to call twice. */
  close(): void {
    this.#socket.destroy();
  }

  #attach(socket: Socket): void {
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('close', this.#onEnd);
    socket.on('error', this.#onError);
  }

  #detach(socket: Socket): void {
    socket.off('data', this.#onData);
    socket.off('end', this.#onEnd);
    socket.off('close', this.#onEnd);
    socket.off('error', this.#onError);
  }

  readonly #onData = (chunk: Buffer): void => {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    this.#notify();
  };

  readonly #onEnd = (): void => {
    this.#closed = true;
    this.#notify();
  };

  readonly #onError = (err: Error): void => {
    this.#error = err;
    this.#closed = true;
    this.#notify();
  };

  #notify(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  async #readLine(deadline: AbortSignal, what: () => string): Promise<string> {
    for (;;) {
      const crlf = this.#buffer.indexOf('\r\n');
      if (crlf >= 0) {
        const line = this.#buffer.subarray(0, crlf).toString('utf8');
        this.#buffer = this.#buffer.subarray(crlf + 2);
        return line;
      }
      if (this.#closed) {
        const why = this.#error === null ? 'closed' : `failed (${this.#error.message})`;
        throw new Error(`connection ${why} while waiting for ${what()}; unread: ${JSON.stringify(this.#buffer.toString('latin1'))}`);
      }
      await this.#waitForMore(deadline, what());
    }
  }

  #waitForMore(deadline: AbortSignal, what: string): Promise<void> {
    if (deadline.aborted) return Promise.reject(new Error(`timed out waiting for ${what}`));
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        this.#wake = null;
        reject(new Error(`timed out waiting for ${what}`));
      };
      deadline.addEventListener('abort', onAbort, { once: true });
      this.#wake = () => {
        deadline.removeEventListener('abort', onAbort);
        resolve();
      };
    });
  }
}

/** Resolves on the event, rejects on 'error', 'close' or after timeoutMs. */
function onceWithin(socket: Socket, event: string, timeoutMs: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`timed out waiting for ${what}`)), timeoutMs);
    const done = (err?: Error): void => {
      clearTimeout(timer);
      socket.off(event, onEvent);
      socket.off('error', done);
      socket.off('close', onClose);
      if (err === undefined) resolve();
      else {
        socket.destroy();
        reject(err);
      }
    };
    const onEvent = (): void => done();
    const onClose = (): void => done(new Error(`connection closed while waiting for ${what}`));
    socket.once(event, onEvent);
    socket.once('error', done);
    socket.once('close', onClose);
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Transcripts

/**
 * One step of a transcript. The format, one directive per line:
 *   C: text      send text + CRLF
 *   C~ text      send text exactly, after decoding \r \n \t \\ \xHH; nothing appended
 *   S: pattern   the next reply's LAST line must match pattern ("*" = any text): "S: 250 2.1.0 *", "S: 250*"
 *   S- pattern   the next reply (the one the following "S:" reads) must have a line whose text, after
 *                "NNN-"/"NNN ", matches pattern: "S- PIPELINING", "S- SIZE *"
 *   S: (closed)  the server closed the connection without sending anything more
 *   # ...        a comment; blank lines are ignored
 * In C: and C~ lines, {{x*3000}} stands for 3000 times "x" (overlong lines stay readable).
 */
export type Step =
  | { kind: 'send'; bytes: Buffer; line: number }
  | { kind: 'reply'; last: RegExp; some: RegExp[]; source: string; line: number }
  | { kind: 'closed'; line: number };

/** Parses a transcript; throws on an unknown directive so a typo cannot silently skip a check. */
export function parseTranscript(text: string): Step[] {
  const steps: Step[] = [];
  let pendingSome: RegExp[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === '' || raw.startsWith('#')) return;
    const m = /^(C:|C~|S:|S-)(?: (.*))?$/s.exec(raw);
    if (m === null) throw new Error(`line ${line}: unknown directive ${JSON.stringify(raw)}`);
    const directive = `${m[1]} `;
    const rest = m[2] ?? '';
    if (directive === 'C: ') steps.push({ kind: 'send', bytes: Buffer.from(`${expandRepeats(rest)}\r\n`, 'utf8'), line });
    else if (directive === 'C~ ') steps.push({ kind: 'send', bytes: decodeEscapes(expandRepeats(rest)), line });
    else if (directive === 'S- ') pendingSome.push(globToRegExp(rest));
    else if (directive === 'S: ' && rest === '(closed)') {
      if (pendingSome.length > 0) throw new Error(`line ${line}: "S-" lines must be followed by an "S:" reply line`);
      steps.push({ kind: 'closed', line });
    } else if (directive === 'S: ') {
      steps.push({ kind: 'reply', last: globToRegExp(rest), some: pendingSome, source: rest, line });
      pendingSome = [];
    } else throw new Error(`line ${line}: unknown directive ${JSON.stringify(raw)}`);
  });
  if (pendingSome.length > 0) throw new Error('transcript ends with "S-" lines not followed by an "S:" line');
  return steps;
}

/** Plays a transcript on an open dialog (the greeting is not read for you: start with "S: 220 *"). */
export async function runTranscript(dialog: SmtpDialog, text: string, name = 'transcript'): Promise<void> {
  for (const step of parseTranscript(text)) {
    const where = `${name}:${step.line}`;
    if (step.kind === 'send') {
      await dialog.send(step.bytes);
    } else if (step.kind === 'closed') {
      await dialog.expectClosed().catch((err: Error) => {
        throw new Error(`${where}: expected the connection to close: ${err.message}`);
      });
    } else {
      const r = await dialog.reply().catch((err: Error) => {
        throw new Error(`${where}: expected a reply matching "${step.source}": ${err.message}`);
      });
      const last = r.lines[r.lines.length - 1] ?? '';
      assert.match(last, step.last, `${where}: reply ${JSON.stringify(r.lines)} does not match "${step.source}"`);
      for (const re of step.some) {
        assert.ok(
          r.lines.some((l) => re.test(l.slice(4))),
          `${where}: no line of ${JSON.stringify(r.lines)} matches ${re.source}`,
        );
      }
    }
  }
}

function globToRegExp(glob: string): RegExp {
  const body = glob
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${body}$`, 's');
}

function expandRepeats(text: string): string {
  return text.replace(/\{\{(.)\*(\d+)\}\}/gu, (_, ch: string, n: string) => ch.repeat(Number(n)));
}

/** "\r\n" → CR LF, "\x00" → NUL, "\\" → backslash; the rest as UTF-8. */
export function decodeEscapes(text: string): Buffer {
  const decoded = text.replace(/\\(r|n|t|\\|x[0-9a-fA-F]{2})/g, (_, e: string) => {
    if (e === 'r') return '\r';
    if (e === 'n') return '\n';
    if (e === 't') return '\t';
    if (e === '\\') return '\\';
    return String.fromCharCode(parseInt(e.slice(1), 16));
  });
  // latin1 keeps \x80-\xff as single bytes; anything beyond (UTF-8 text) must go through utf8.
  return /[^\x00-\xff]/.test(decoded) ? Buffer.from(decoded, 'utf8') : Buffer.from(decoded, 'latin1');
}

// ---------------------------------------------------------------------------------------------------------------
// Whole transactions

/** Dot-stuffs message text (a string is UTF-8) for DATA (RFC 5321 §4.5.2) and appends the end marker; the text must use CRLF. */
export function dataBlock(text: string | Buffer): Buffer {
  // Latin-1 maps each byte to one char and back, so 8-bit text goes through unchanged.
  const s = (typeof text === 'string' ? Buffer.from(text, 'utf8') : text).toString('latin1');
  const body = s.replace(/(^|\r\n)\./g, '$1..');
  return Buffer.from(`${body}${body === '' || body.endsWith('\r\n') ? '' : '\r\n'}.\r\n`, 'latin1');
}

export interface TransactionOptions {
  readonly from: string;
  readonly to: readonly string[];
  /** The message, CRLF line endings, not yet dot-stuffed. */
  readonly text: string | Buffer;
  /** ESMTP parameters after MAIL FROM:<...>, e.g. "BODY=8BITMIME SMTPUTF8". */
  readonly mailParams?: string;
}

/**
 * Runs MAIL, RCPT for each recipient, DATA and the text on a dialog that has already said EHLO; checks every
 * intermediate reply (250, 250..., 354) and returns the final one, whatever it is.
 */
export async function sendTransaction(d: SmtpDialog, opts: TransactionOptions): Promise<DialogReply> {
  const params = opts.mailParams === undefined ? '' : ` ${opts.mailParams}`;
  await d.command(`MAIL FROM:<${opts.from}>${params}`);
  await d.expect(250);
  for (const to of opts.to) {
    await d.command(`RCPT TO:<${to}>`);
    await d.expect(250);
  }
  await d.command('DATA');
  await d.expect(354);
  await d.send(dataBlock(opts.text));
  return d.reply();
}

/**
 * One message from s@client.example to `to` over a fresh plain connection to 127.0.0.1:port, each reply checked,
 * ended with QUIT: a server that answers this is alive and delivering.
 */
export async function deliverOne(port: number, subject: string, to = 'alice@example.org'): Promise<void> {
  const d = await SmtpDialog.connect(port);
  try {
    await d.expect(220);
    await d.command('EHLO client.example');
    await d.expect(250);
    await d.command('MAIL FROM:<s@client.example>');
    await d.expect(250);
    await d.command(`RCPT TO:<${to}>`);
    await d.expect(250);
    await d.command('DATA');
    await d.expect(354);
    await d.send(`Subject: ${subject}\r\n\r\nhello\r\n.\r\n`);
    await d.expect(250, '2.0.0');
    await d.command('QUIT');
    await d.expect(221);
  } finally {
    d.close();
  }
}
