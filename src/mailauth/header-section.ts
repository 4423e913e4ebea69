// Splits a streamed message at the end of its header section (the first empty line, RFC 5322 §2.1), keeping only
// the header section, and only up to a limit: the body is never held.

/**
 * The largest header section kept for signing or checking. Postfix keeps 100 KiB of headers (header_size_limit);
 * a section past 256 KiB is an abuse, and holding it for each of a thousand sessions would cost 256 MB.
 */
export const MAX_HEADER_SECTION = 256 * 1024;

const CR = 0x0d;
const LF = 0x0a;

export class HeaderSection {
  readonly #limit: number;
  readonly #chunks: Buffer[] = [];
  #size = 0;
  /** Octets of the current (unfinished) line seen so far, and whether they are exactly one CR. */
  #lineLength = 0;
  #lineIsCr = false;
  #state: 'reading' | 'complete' | 'too-large' = 'reading';
  #header: Buffer | null = null;

  constructor(limit = MAX_HEADER_SECTION) {
    this.#limit = limit;
  }

  /** 'complete' once the empty line was seen; 'too-large' once the limit passed without one. */
  get state(): 'reading' | 'complete' | 'too-large' {
    return this.#state;
  }

  /** The limit passed before the header section ended (a method, so that it is read afresh after push()). */
  tooLarge(): boolean {
    return this.#state === 'too-large';
  }

  /** The header section, its ending empty line included, once complete (or at the end of a message without body). */
  get header(): Buffer | null {
    return this.#header;
  }

  /**
   * Takes the next chunk while the header section is being read. Returns null while it is not complete (the chunk
   * was consumed), or the part of the chunk after the empty line (perhaps empty) once it is. Not to be called after.
   */
  push(chunk: Buffer): Buffer | null {
    if (this.#state !== 'reading') throw new Error('HeaderSection: push after the header section ended');
    let from = 0;
    for (;;) {
      const lf = chunk.indexOf(LF, from);
      if (lf < 0) {
        this.#carry(chunk, from, chunk.length);
        break;
      }
      const lineLength = this.#lineLength + (lf - from);
      const empty = lineLength === 0 || (lineLength === 1 && (this.#lineLength === 1 ? this.#lineIsCr : chunk[lf - 1] === CR));
      if (empty) {
        if (!this.#keep(chunk.subarray(0, lf + 1))) return null;
        this.#header = Buffer.concat(this.#chunks, this.#size);
        this.#chunks.length = 0;
        this.#state = 'complete';
        return chunk.subarray(lf + 1);
      }
      this.#lineLength = 0;
      this.#lineIsCr = false;
      from = lf + 1;
    }
    this.#keep(chunk);
    return null;
  }

  /** At the end of the message: a message without an empty line is all header (RFC 5322 §3.5: the body is optional). */
  end(): void {
    if (this.#state !== 'reading') return;
    this.#header = Buffer.concat(this.#chunks, this.#size);
    this.#chunks.length = 0;
    this.#state = 'complete';
  }

  #carry(chunk: Buffer, from: number, to: number): void {
    if (to === from) return;
    this.#lineIsCr = this.#lineLength === 0 && to - from === 1 && chunk[from] === CR;
    this.#lineLength += to - from;
  }

  #keep(part: Buffer): boolean {
    this.#size += part.length;
    if (this.#size > this.#limit) {
      this.#chunks.length = 0;
      this.#state = 'too-large';
      return false;
    }
    this.#chunks.push(part);
    return true;
  }
}
