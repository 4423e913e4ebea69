// The wire form of a stored message for DATA: LF → CRLF, leading dots doubled (RFC 5321 §4.5.2), CRLF at the end.
import { Transform, type TransformCallback } from 'node:stream';

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;

/**
 * Turns a stored message (lines end in LF, not stuffed) into DATA text, chunk by chunk; state crosses chunk
 * boundaries. After end() the output always ends in CRLF (or is empty for an empty message), so the caller
 * sends ".\r\n" and nothing else to finish the data.
 *
 * Line endings: LF becomes CRLF; a CRLF already there stays one CRLF. A CR on its own also becomes CRLF:
 * RFC 5321 §2.3.8 forbids sending a bare CR, and receivers that take <CR>.<CR> as the end of the data would
 * otherwise let message text be read as commands (SMTP smuggling). The dot that follows is then stuffed.
 */
export class DotStuffer {
  /** The next byte starts a line (true at the start of the message). */
  private lineStart = true;
  /** The last byte seen was a CR, already sent as CRLF: a LF right after it belongs to it. */
  private afterCr = false;
  /** Nothing was written yet, or the last byte written was the LF of a CRLF. */
  private endsWithCrlf = true;

  push(chunk: Uint8Array): Buffer {
    // Worst case every byte doubles (LF → CRLF, "." → ".." at a line start).
    const out = Buffer.allocUnsafe(chunk.length * 2);
    let n = 0;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i] as number;
      if (b === LF) {
        if (!this.afterCr) {
          out[n++] = CR;
          out[n++] = LF;
        }
        this.afterCr = false;
        this.lineStart = true;
        continue;
      }
      this.afterCr = false;
      if (b === CR) {
        out[n++] = CR;
        out[n++] = LF;
        this.afterCr = true;
        this.lineStart = true;
        continue;
      }
      if (this.lineStart && b === DOT) out[n++] = DOT;
      out[n++] = b;
      this.lineStart = false;
    }
    if (n > 0) this.endsWithCrlf = this.lineStart;
    return out.subarray(0, n);
  }

  /** What must follow the last chunk: CRLF when the message did not end with a line ending. */
  end(): Buffer {
    if (this.endsWithCrlf) return Buffer.alloc(0);
    this.endsWithCrlf = true;
    this.lineStart = true;
    return Buffer.from('\r\n');
  }
}

/** A Transform stream over DotStuffer, for pipeline(); the client itself uses DotStuffer directly. */
export function dotStuff(): Transform {
  const stuffer = new DotStuffer();
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
      const out = stuffer.push(chunk);
      done(null, out.length > 0 ? out : undefined);
    },
    flush(done: TransformCallback): void {
      const tail = stuffer.end();
      done(null, tail.length > 0 ? tail : undefined);
    },
  });
}
