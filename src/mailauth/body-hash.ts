// DKIM body canonicalisation ("simple" RFC 6376 §3.4.3, "relaxed" §3.4.4) and its hash, streamed in bounded memory.
//
// mailauth's own body hasher keeps an unfinished line whole (and re-concatenates it at every chunk) and queues every
// trailing empty line as a buffer until content follows: a 25 MB line, or 25 MB of " \n", would sit in memory. This
// one keeps counters instead (empty lines held back, one pending space, one pending CR), so a message of any shape
// costs a 4 KiB output buffer, and text taken in slices of at most 64 KiB (as strings, for the plain-text path). It
// takes LF or CRLF line endings alike: the stored messages have LF.
import { createHash, type Hash } from 'node:crypto';

export type BodyCanonicalization = 'simple' | 'relaxed';

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const TAB = 0x09;
/** Under half of Buffer.poolSize (8 KiB): allocUnsafe slices it from Node's shared pool, no ArrayBuffer per message. */
const OUT_BYTES = 4095;
/**
 * What relaxed canonicalisation changes besides TAB: a run of spaces, a space before a line end. A regular expression
 * over the chunk as a latin1 string finds them several times faster than Buffer.indexOf does a two-octet needle.
 */
const SPACE_TO_CHANGE = / [ \n]/;
/** A larger chunk is taken in slices: the plain-text path holds a slice as two strings (as read, and canonical). */
const SLICE_BYTES = 64 * 1024;

export class BodyHash {
  readonly #hash: Hash;
  readonly #relaxed: boolean;
  /** The l= tag: canonical octets hashed at most (RFC 6376 §3.5); null: all. */
  readonly #limit: number | null;
  /** The canonical octets not hashed yet; allocated when first needed (plain text is hashed without it). */
  #outBuffer: Buffer | null = null;
  #n = 0;
  /** The current line has content: any octet for simple, any octet other than WSP for relaxed. */
  #content = false;
  /** Relaxed: WSP seen since the last content octet of the line; it becomes one SP if more content follows. */
  #space = false;
  /** A CR whose LF may come in the next chunk. */
  #cr = false;
  /** Empty lines not yet hashed: they count only if content follows (trailing empty lines are ignored). */
  #emptyLines = 0;
  #digest: string | null = null;

  /** Octets given to update(). */
  byteLength = 0;
  /** Canonical octets produced, hashed or not (complete after digest()). */
  canonicalizedLength = 0;
  /** Canonical octets hashed (at most the l= limit). */
  bodyHashedBytes = 0;

  constructor(canonicalization: BodyCanonicalization, algorithm: 'sha256' | 'sha1' = 'sha256', limit: number | null = null) {
    this.#hash = createHash(algorithm);
    this.#relaxed = canonicalization === 'relaxed';
    this.#limit = limit;
  }

  update(chunk: Uint8Array): void {
    if (this.#digest !== null) throw new Error('BodyHash: update after digest');
    if (chunk.length > SLICE_BYTES) {
      // Canonicalisation is a stream: cut anywhere, it gives the same octets.
      for (let i = 0; i < chunk.length; i += SLICE_BYTES) this.update(chunk.subarray(i, i + SLICE_BYTES));
      return;
    }
    this.byteLength += chunk.length;
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    const text = this.#plainText(b);
    if (text !== null) {
      this.#n = this.#updatePlain(b, text);
      return;
    }
    const out = this.#out();
    const relaxed = this.#relaxed;
    let n = this.#n;
    for (let i = 0; i < chunk.length; i++) {
      let c = chunk[i] as number;
      if (this.#cr) {
        this.#cr = false;
        if (c === LF) {
          n = this.#endLine(n);
          continue;
        }
        // A CR not followed by LF is text.
        n = this.#contentStart(n);
        out[n++] = CR;
        if (n === OUT_BYTES) n = this.#flush(n);
      }
      if (c === CR) {
        this.#cr = true;
        continue;
      }
      if (c === LF) {
        n = this.#endLine(n);
        continue;
      }
      if (relaxed && (c === SP || c === TAB)) {
        // §3.4.4: a run of WSP becomes one SP; WSP at the end of a line disappears.
        this.#space = true;
        continue;
      }
      if (!this.#content || this.#space) n = this.#contentStart(n);
      // The common case: a run of plain octets copied with no further state change.
      out[n++] = c;
      if (n === OUT_BYTES) n = this.#flush(n);
      while (i + 1 < chunk.length) {
        c = chunk[i + 1] as number;
        if (c === CR || c === LF || (relaxed && (c === SP || c === TAB))) break;
        out[n++] = c;
        if (n === OUT_BYTES) n = this.#flush(n);
        i++;
      }
    }
    this.#n = n;
  }

  /**
   * The chunk as a latin1 string when canonicalisation only has to turn its LFs into CRLFs (and hold back trailing
   * empty lines), else null: no CR anywhere (the inbound server's chunks have LF endings, a bare CR being refused),
   * nothing pending from the chunk before, and for relaxed no TAB, no run of spaces, no space before a line end or at
   * the chunk's end. Most text is such, and native scans and string replacement do it several times faster than
   * looking at each octet in JS.
   */
  #plainText(b: Buffer): string | null {
    if (this.#cr || this.#space || b.length === 0 || b.indexOf(CR) >= 0) return null;
    if (this.#relaxed && (b[b.length - 1] === SP || b.indexOf(TAB) >= 0)) return null;
    const text = b.toString('latin1');
    return this.#relaxed && SPACE_TO_CHANGE.test(text) ? null : text;
  }

  /** update() for a chunk #plainText() accepted: LF becomes CRLF; empty lines at its start and end are counted. */
  #updatePlain(b: Buffer, text: string): number {
    let n = this.#n;
    let start = 0;
    if (!this.#content) {
      while (start < b.length && b[start] === LF) start++;
      this.#emptyLines += start;
      if (start === b.length) return n;
    }
    let end = b.length;
    while (end > start && b[end - 1] === LF) end--;
    let canonical = '';
    if (end > start) {
      // Content from `start` (or the line already begun) to `end`, which is not a line end, and that line's end if
      // the chunk has it (taken in the same replacement: a string built by concatenation would be copied again).
      if (!this.#content) n = this.#contentStart(n);
      canonical = text.slice(start, end < b.length ? end + 1 : end).replaceAll('\n', '\r\n');
    } else if (end < b.length && this.#content) {
      canonical = '\r\n'; // the chunk ends the line begun before it
    }
    if (end < b.length) {
      // The line ended; the empty lines after it wait for content.
      if (!this.#content) this.#emptyLines++;
      this.#content = false;
      this.#emptyLines += b.length - end - 1;
    }
    return canonical === '' ? n : this.#hashText(canonical, n);
  }

  /** Hashes canonical text after the `n` octets waiting in the buffer; returns how many wait now. */
  #hashText(canonical: string, n: number): number {
    if (this.#limit === null) {
      // No l= to count against: the text goes to the hash as it is, with no copy into the buffer.
      n = this.#flush(n);
      this.#hash.update(canonical, 'latin1');
      this.canonicalizedLength += canonical.length;
      this.bodyHashedBytes += canonical.length;
      return n;
    }
    const out = this.#out();
    for (let i = 0; i < canonical.length; ) {
      const k = Math.min(canonical.length - i, OUT_BYTES - n);
      out.write(i === 0 && k === canonical.length ? canonical : canonical.slice(i, i + k), n, k, 'latin1');
      i += k;
      n += k;
      if (n === OUT_BYTES) n = this.#flush(n);
    }
    return n;
  }

  #out(): Buffer {
    if (this.#outBuffer === null) this.#outBuffer = Buffer.allocUnsafe(OUT_BYTES);
    return this.#outBuffer;
  }

  /** The base64 body hash (the bh= value). */
  digest(_encoding: 'base64' = 'base64'): string {
    if (this.#digest !== null) return this.#digest;
    let n = this.#n;
    if (this.#cr) {
      this.#cr = false;
      n = this.#contentStart(n);
      this.#out()[n++] = CR;
      if (n === OUT_BYTES) n = this.#flush(n);
    }
    // A last line without its line ending gets one (§3.4.3, §3.4.4).
    if (this.#content) n = this.#endLine(n);
    // §3.4.3: an empty body is one CRLF for simple; relaxed leaves it empty (erratum 1384).
    if (!this.#relaxed && this.canonicalizedLength + n === 0) {
      const out = this.#out();
      out[n++] = CR;
      out[n++] = LF;
    }
    this.#flush(n);
    this.#n = 0;
    this.#digest = this.#hash.digest('base64');
    return this.#digest;
  }

  /** mailauth's hashers take the Content-Type to find the MIME structure; nothing to do here. */
  setContentType(_contentType: unknown): void {}

  /** mailauth reads this after the digest; undefined: not computed. */
  getMimeStructureStart(): number | undefined {
    return undefined;
  }

  /** Before the first content octet of a line: the held-back empty lines, then the pending SP. */
  #contentStart(n: number): number {
    if (!this.#content) {
      this.#content = true;
      for (; this.#emptyLines > 0; this.#emptyLines--) {
        if (n + 2 > OUT_BYTES) n = this.#flush(n);
        const out = this.#out();
        out[n++] = CR;
        out[n++] = LF;
        // A full buffer is flushed at once: the next octet would be written past its end, and lost.
        if (n === OUT_BYTES) n = this.#flush(n);
      }
    }
    if (this.#space) {
      this.#space = false;
      this.#out()[n++] = SP;
      if (n === OUT_BYTES) n = this.#flush(n);
    }
    return n;
  }

  #endLine(n: number): number {
    if (this.#content) {
      if (n + 2 > OUT_BYTES) n = this.#flush(n);
      const out = this.#out();
      out[n++] = CR;
      out[n++] = LF;
      if (n === OUT_BYTES) n = this.#flush(n);
    } else {
      this.#emptyLines++;
    }
    this.#content = false;
    this.#space = false;
    return n;
  }

  #flush(n: number): number {
    if (n === 0) return 0;
    this.canonicalizedLength += n;
    const room = this.#limit === null ? n : Math.max(0, Math.min(n, this.#limit - this.bodyHashedBytes));
    if (room > 0) {
      // Hash.update copies what it is given, so the buffer can be reused at once.
      this.#hash.update(this.#out().subarray(0, room));
      this.bodyHashedBytes += room;
    }
    return 0;
  }
}
