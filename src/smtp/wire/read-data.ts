// readData: the message text after 354, un-stuffed, CRLF turned into LF, ended only by CRLF "." CRLF (RFC 5321 §4.1.1.4).
import { replies } from '../replies.js';
import { SmtpError } from '../smtp-error.js';
import { type ByteReader, ConnectionClosedError } from './byte-reader.js';

export interface ReadDataOptions {
  /** Largest message accepted, in octets with CRLF line endings, after un-stuffing (RFC 1870). */
  maxBytes: number;
  /** Longest wait for the next bytes (RFC 5321 §4.5.3.2.5 suggests 3 minutes between data blocks). */
  timeoutMs: number;
  /** Date.now() value by which the whole text must have arrived: a client trickling a byte per minute cannot hold the session forever. */
  deadline?: number;
}

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;
const END = Buffer.from('\r\n.\r\n');
/** The ".\r\n" of the end marker: not part of the message (the CRLF before the dot is). */
const DOT_LINE = 3;

/**
 * Yields the message in chunks (at most one per chunk received), then leaves any bytes after the end marker in the
 * reader for the next command (PIPELINING, RFC 2920).
 *
 * A bare CR or LF refuses the message (550 5.6.0), a NUL byte too (554 5.6.0: RFC 5322 §2.3 forbids it in a
 * message, and a NUL is a classic way to make two parsers disagree), and a message over maxBytes is refused with
 * 552 5.3.4 (in that order when there are several faults), but always only after reading on to the real CRLF.CRLF: the client sends nothing else before that, and stopping
 * early would let message text run as commands. Only CRLF.CRLF ends the data, never "\n.\n" or "\r\n.\n", so one
 * DATA can never be split into two transactions (SMTP smuggling, CVE-2023-51764..51766).
 *
 * If the consumer stops early (its sink failed), closing the generator still reads to the end marker.
 */
export async function* readData(reader: ByteReader, opts: ReadDataOptions): AsyncGenerator<Buffer, void, undefined> {
  const end = new EndFinder();
  const unstuffer = new Unstuffer();
  const wait = new ChunkWait();
  let size = 0;
  // The faults seen so far; the reply names the gravest (bare line ending, then NUL, then size), whatever their order.
  let bare = false;
  let nul = false;
  let tooBig = false;
  let yielding = false;
  try {
    for (;;) {
      const chunk = await nextChunk(reader, opts, wait);
      const stop = end.find(chunk);
      if (stop >= 0) reader.unshift(chunk.subarray(stop));
      let out: Buffer | null = null;
      // When the end marker started in an earlier chunk, its dot (and CR) already went through the un-stuffer,
      // which produced nothing for them: a dot at a line start is dropped and a CR waits for its LF.
      const body = stop >= 0 ? chunk.subarray(0, Math.max(0, stop - DOT_LINE)) : chunk;
      nul ||= body.includes(0);
      if (!bare) {
        out = unstuffer.push(body);
        if (out === null) bare = true;
        else {
          size += out.length + unstuffer.takeLineCount(); // each LF stands for a CRLF: 2 octets
          tooBig ||= size > opts.maxBytes;
        }
      }
      const refused = bare ? replies.bareLineEndingInData() : nul ? replies.nulInData() : tooBig ? replies.messageTooBig(opts.maxBytes) : null;
      if (stop >= 0) {
        if (refused !== null) throw new SmtpError(refused);
        if (out !== null && out.length > 0) yield out;
        return;
      }
      // Nothing more reaches the sink once the message is known to be refused.
      if (refused === null && out !== null && out.length > 0) {
        yielding = true;
        yield out;
        yielding = false;
      }
    }
  } finally {
    if (yielding) await drain(reader, end, opts, wait);
  }
}

/**
 * The wait for the next chunk: one abort controller per message, and a plain timer for each real wait. An
 * AbortSignal.timeout per chunk cost more (each is tracked for the garbage collector), and with one signal for the
 * whole text the reader keeps its abort listener on it (byte-reader.ts).
 */
class ChunkWait {
  readonly #controller = new AbortController();

  /** Waits for the reader's next bytes, at most `ms` milliseconds (then rejects with a TimeoutError). */
  async read(reader: ByteReader, ms: number): Promise<Buffer | null> {
    const timer = setTimeout(() => this.#controller.abort(new DOMException(`no message text for ${ms} ms`, 'TimeoutError')), ms);
    timer.unref(); // the socket keeps the process alive, not this timer
    try {
      return await reader.read(this.#controller.signal);
    } finally {
      clearTimeout(timer);
    }
  }
}

async function nextChunk(reader: ByteReader, opts: ReadDataOptions, wait: ChunkWait): Promise<Buffer> {
  const left = opts.deadline === undefined ? opts.timeoutMs : Math.min(opts.timeoutMs, opts.deadline - Date.now());
  if (left <= 0) throw new DOMException('message text took too long', 'TimeoutError');
  // A timer only when the wait is real: buffered bytes come back at once.
  const chunk = reader.buffered > 0 ? await reader.read() : await wait.read(reader, left);
  if (chunk === null) throw new ConnectionClosedError('Connection closed during DATA');
  return chunk;
}

/** Reads and drops bytes up to the end marker, leaving what follows it in the reader. */
async function drain(reader: ByteReader, end: EndFinder, opts: ReadDataOptions, wait: ChunkWait): Promise<void> {
  for (;;) {
    const chunk = await nextChunk(reader, opts, wait);
    const stop = end.find(chunk);
    if (stop >= 0) {
      reader.unshift(chunk.subarray(stop));
      return;
    }
  }
}

/** Finds CRLF "." CRLF across chunk boundaries; the data starts as if after a CRLF, so "." CRLF first is an empty message. */
class EndFinder {
  /** The last (up to 4) bytes seen, which may start the marker. */
  #tail: Buffer = Buffer.from('\r\n');

  /** The index in chunk just after the marker's final LF, or -1 when the marker does not end in this chunk. */
  find(chunk: Buffer): number {
    if (chunk.length === 0) return -1;
    const tail = this.#tail;
    // A marker that starts in the tail always ends before one found inside the chunk.
    const seam = Buffer.concat([tail, chunk.subarray(0, END.length - 1)]);
    const atSeam = seam.indexOf(END);
    if (atSeam >= 0) return atSeam + END.length - tail.length;
    const inside = chunk.indexOf(END);
    if (inside >= 0) return inside + END.length;
    const keep = END.length - 1;
    this.#tail =
      chunk.length >= keep
        ? Buffer.from(chunk.subarray(chunk.length - keep))
        : Buffer.concat([tail, chunk]).subarray(-keep);
    return -1;
  }
}

/**
 * Removes the stuffed dot at the start of each line (RFC 5321 §4.5.2) and turns each CRLF into LF, carrying its
 * state across chunks. The input never holds the end marker (EndFinder cuts it off first).
 */
class Unstuffer {
  #state: 'line-start' | 'text' | 'cr' = 'line-start';
  #lines = 0;

  /** Line endings emitted since the last call (each LF stands for 2 octets on the wire). */
  takeLineCount(): number {
    const n = this.#lines;
    this.#lines = 0;
    return n;
  }

  /** The un-stuffed bytes of chunk, or null at a bare CR or LF. */
  push(chunk: Buffer): Buffer | null {
    const n = chunk.length;
    const out = Buffer.allocUnsafe(n); // never longer than the input: only dots and CRs are removed
    let o = 0;
    let i = 0;
    if (n > 0 && this.#state === 'cr') {
      if (chunk[0] !== LF) return null; // bare CR at the end of the previous chunk
      out[o++] = LF;
      this.#lines++;
      i = 1;
      this.#state = 'line-start';
    }
    while (i < n) {
      if (this.#state === 'line-start') {
        if (chunk[i] === DOT) i++; // ".." → ".", ".x" → "x"
        this.#state = 'text';
        continue;
      }
      const cr = chunk.indexOf(CR, i);
      const lf = chunk.indexOf(LF, i);
      if (lf >= 0 && (cr < 0 || lf < cr)) return null; // bare LF
      if (cr < 0) {
        o += chunk.copy(out, o, i, n);
        i = n;
      } else if (cr === n - 1) {
        o += chunk.copy(out, o, i, cr);
        this.#state = 'cr'; // its LF, if any, is in the next chunk
        i = n;
      } else if (chunk[cr + 1] === LF) {
        o += chunk.copy(out, o, i, cr);
        out[o++] = LF;
        this.#lines++;
        i = cr + 2;
        this.#state = 'line-start';
      } else {
        return null; // bare CR
      }
    }
    return out.subarray(0, o);
  }
}
