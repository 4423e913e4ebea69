// An incremental parser of server replies (RFC 5321 §4.2) for the client: bytes in, complete Replies out.
import { reply, type Reply } from '../../mail/reply.js';

/** The longest reply line we hold, without its line ending. RFC 5321 §4.5.3.1.5 says 512; we are lenient. */
export const MAX_REPLY_LINE = 4096;
/** The most lines one reply may have: an EHLO reply has a dozen, nothing legitimate comes near this. */
export const MAX_REPLY_LINES = 1000;

/** The server sent something that is not a reply: the connection can no longer be trusted to stay in step. */
export class ReplyProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReplyProtocolError';
  }
}

const LF = 0x0a;
const CR = 0x0d;

// Reply-code = %x32-35 %x30-35 %x30-39 (RFC 5321 §4.2), then "-" (more lines follow), " " or the end of the line.
const REPLY_LINE = /^([2-5][0-5][0-9])(?:([ -])(.*))?$/s;
// An enhanced status code at the start of the text (RFC 2034 §4, RFC 3463 §2): class.subject.detail.
const ENHANCED = /^([245])\.(\d{1,3})\.(\d{1,3})(?: |$)/;

/**
 * Feed it the bytes read from the server; it returns each reply as soon as its last line is complete.
 * Lines end in CRLF; a bare LF is accepted too (servers that get this wrong are common and harmless to us),
 * but a CR anywhere else is refused. Memory stays bounded: one line of MAX_REPLY_LINE octets and one reply of
 * MAX_REPLY_LINES lines at most, beyond which push() throws ReplyProtocolError. After an error every push throws.
 */
export class ReplyParser {
  /** The bytes of the line being received (no line ending yet). */
  private partial: Buffer = Buffer.alloc(0);
  /** The lines of the reply being received, as [code, text]. */
  private lines: string[] = [];
  private code: string | null = null;
  private failed: ReplyProtocolError | null = null;

  push(chunk: Uint8Array): Reply[] {
    if (this.failed !== null) throw this.failed;
    try {
      return this.consume(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    } catch (err) {
      if (err instanceof ReplyProtocolError) this.failed = err;
      throw err;
    }
  }

  /** True when bytes of an unfinished reply are held (used to tell a clean close from a cut reply). */
  get pending(): boolean {
    return this.partial.length > 0 || this.lines.length > 0;
  }

  private consume(chunk: Buffer): Reply[] {
    const out: Reply[] = [];
    let start = 0;
    while (start < chunk.length) {
      const lf = chunk.indexOf(LF, start);
      if (lf === -1) {
        this.hold(chunk.subarray(start));
        break;
      }
      const piece = chunk.subarray(start, lf);
      start = lf + 1;
      const line = this.partial.length > 0 ? Buffer.concat([this.partial, piece]) : piece;
      this.partial = Buffer.alloc(0);
      const done = this.line(line);
      if (done !== null) out.push(done);
    }
    return out;
  }

  private hold(bytes: Buffer): void {
    // +1: the CR of a CRLF split across reads may still be waiting for its LF.
    if (this.partial.length + bytes.length > MAX_REPLY_LINE + 1) {
      throw new ReplyProtocolError(`reply line longer than ${MAX_REPLY_LINE} octets`);
    }
    this.partial = Buffer.concat([this.partial, bytes]);
  }

  /** One line without its LF; returns the reply when this line was its last. */
  private line(raw: Buffer): Reply | null {
    const body = raw.length > 0 && raw[raw.length - 1] === CR ? raw.subarray(0, raw.length - 1) : raw;
    if (body.length > MAX_REPLY_LINE) throw new ReplyProtocolError(`reply line longer than ${MAX_REPLY_LINE} octets`);
    if (body.includes(CR)) throw new ReplyProtocolError('bare CR in a reply line');
    // Reply text is US-ASCII (RFC 5321 §4.2) or UTF-8 for SMTPUTF8 servers (RFC 6531 §3.7.4.2).
    const text = body.toString('utf8');
    const m = REPLY_LINE.exec(text);
    if (m === null) throw new ReplyProtocolError(`not a reply line: ${JSON.stringify(text.slice(0, 80))}`);
    const code = m[1] as string;
    if (this.code !== null && code !== this.code) {
      throw new ReplyProtocolError(`reply lines with different codes: ${this.code} then ${code}`);
    }
    this.code = code;
    this.lines.push(m[3] ?? '');
    if (m[2] === '-') {
      if (this.lines.length >= MAX_REPLY_LINES) throw new ReplyProtocolError(`reply longer than ${MAX_REPLY_LINES} lines`);
      return null;
    }
    const done = build(Number(code), this.lines);
    this.code = null;
    this.lines = [];
    return done;
  }
}

/** Splits off the enhanced code when the first line has one of the reply's class (RFC 2034 §4). */
function build(code: number, lines: readonly string[]): Reply {
  const first = lines[0] ?? '';
  const m = ENHANCED.exec(first);
  if (m === null || Number(m[1]) !== Math.floor(code / 100)) return reply(code, null, lines);
  const enhanced = `${m[1]}.${Number(m[2])}.${Number(m[3])}`;
  const prefix = m[0].trimEnd();
  // Every line should repeat the code (RFC 2034 §4); strip it wherever it is there, keep lines that lack it.
  const texts = lines.map((l) => (l === prefix ? '' : l.startsWith(`${prefix} `) ? l.slice(prefix.length + 1) : l));
  return reply(code, enhanced, texts);
}
