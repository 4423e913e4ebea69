// The header section of a message as it streams by: what it holds (From:, Date:, Message-ID:), and fields added at its end.
// Only the start of a line (at most a field name) and the From: values are held; everything else passes on at once.

/** What the header section held, once its end is found. */
export interface HeaderFacts {
  /** Each From: field's value, unfolded, as text; null for one too long to read. */
  readonly from: readonly (string | null)[];
  readonly hasDate: boolean;
  readonly hasMessageId: boolean;
}

/** The fields to add at the end of the header section (each line ending in LF); may throw to refuse the message. */
export type HeaderAdditions = (facts: HeaderFacts) => string;

const LF = 0x0a;
const SP = 0x20;
const HT = 0x09;
const COLON = 0x3a;
/** RFC 5322 §2.1.1: a line is at most 998 characters; a longer "name" is not a field name. */
const MAX_NAME = 998;
/** A From: value longer than this is not read (a real one is a few addresses). */
const MAX_FROM = 16 * 1024;

const enum State {
  /** At the first byte of a line. */
  LineStart,
  /** In a field name (held back until the colon shows it is one). */
  Name,
  /** Between a field name and its colon (RFC 5322 §4.5.3 obsolete syntax allows white space there). */
  NameSpace,
  /** In a field body, up to the end of its line. */
  Value,
}

/**
 * Feeds message chunks (lines ending in LF, as the DATA reader gives them) through `push`, then `end`. The header
 * section ends at the first empty line, or at the first line that is not a field (then an empty line is put
 * before it, since the rest is body); there the additions are inserted.
 */
export class HeaderEditor {
  readonly #additions: HeaderAdditions;
  #state = State.LineStart;
  #done = false;
  /** Bytes of the current line held back from earlier chunks (its field name is not complete yet). */
  #held: Buffer[] = [];
  #name = '';
  /** The field whose body is being read: only From: bodies are kept. */
  #field = '';
  #fromParts: Buffer[] = [];
  #fromLength = 0;
  readonly #from: (string | null)[] = [];
  #hasDate = false;
  #hasMessageId = false;

  constructor(additions: HeaderAdditions) {
    this.#additions = additions;
  }

  /** The bytes to pass on for `chunk`, in order (the additions included once the end of the header is in it). */
  push(chunk: Buffer): Buffer[] {
    if (this.#done) return [chunk];
    const out: Buffer[] = [];
    /** Start of the bytes of `chunk` not yet passed on (held ones included). */
    let from = 0;
    let i = 0;
    while (i < chunk.length) {
      const b = chunk[i] as number;
      switch (this.#state) {
        case State.LineStart:
          if (b === SP || b === HT) {
            this.#state = State.Value; // a folded line: the same field goes on, this byte with it
            continue;
          }
          this.#endField();
          if (b === LF) {
            // The empty line: the additions go before it.
            out.push(chunk.subarray(from, i), this.#finish(''), chunk.subarray(i));
            return out;
          }
          out.push(chunk.subarray(from, i));
          from = i;
          this.#name = '';
          this.#state = State.Name;
          continue; // the same byte, as the first of a name
        case State.Name:
        case State.NameSpace:
          if (b === COLON && this.#name !== '') {
            out.push(...this.#held.splice(0), chunk.subarray(from, i + 1));
            from = i + 1;
            this.#startField(this.#name.toLowerCase());
            this.#state = State.Value;
          } else if (b === SP || b === HT) {
            this.#state = State.NameSpace;
          } else if (this.#state === State.Name && b > SP && b < 0x7f && b !== COLON && this.#name.length < MAX_NAME) {
            this.#name += String.fromCharCode(b);
          } else {
            // Not a field: the body starts at this line, without the empty line it should have had.
            out.push(this.#finish('\n'), ...this.#held.splice(0), chunk.subarray(from));
            return out;
          }
          break;
        case State.Value: {
          const lf = chunk.indexOf(LF, i);
          const end = lf < 0 ? chunk.length : lf + 1;
          if (this.#field === 'from') this.#keepFrom(chunk.subarray(i, end));
          if (lf >= 0) this.#state = State.LineStart;
          i = end;
          continue;
        }
      }
      i++;
    }
    if (this.#state === State.Name || this.#state === State.NameSpace) {
      // Copied: the reader may reuse its buffers once the chunk is consumed.
      this.#held.push(Buffer.from(chunk.subarray(from)));
    } else {
      out.push(chunk.subarray(from));
    }
    return out;
  }

  /** The message ended: what is still held, and the additions if the header section never ended. */
  end(): Buffer[] {
    if (this.#done) return [];
    if (this.#state === State.Name || this.#state === State.NameSpace) return [this.#finish('\n'), ...this.#held.splice(0)];
    this.#endField();
    // A last line without its LF cannot come from the DATA reader; end it rather than glue a field onto it.
    return [this.#finish(this.#state === State.Value ? '\n' : '', true)];
  }

  #startField(name: string): void {
    this.#field = name;
    if (name === 'date') this.#hasDate = true;
    if (name === 'message-id') this.#hasMessageId = true;
    this.#fromParts = [];
    this.#fromLength = 0;
  }

  #keepFrom(part: Buffer): void {
    this.#fromLength += part.length;
    if (this.#fromLength <= MAX_FROM) this.#fromParts.push(Buffer.from(part));
    else this.#fromParts = [];
  }

  #endField(): void {
    if (this.#field === 'from') {
      // Unfolding (RFC 5322 §2.2.3): the CRLF (here LF) before white space is removed.
      this.#from.push(this.#fromLength > MAX_FROM ? null : Buffer.concat(this.#fromParts).toString('utf8').replace(/\n/g, '').trim());
    }
    this.#field = '';
  }

  /** The additions, with `separator` before them (a missing LF) or after them (the empty line a body needs). */
  #finish(separator: '' | '\n', before = false): Buffer {
    this.#done = true;
    const added = this.#additions({ from: this.#from, hasDate: this.#hasDate, hasMessageId: this.#hasMessageId });
    return Buffer.from(before ? `${separator}${added}` : `${added}${separator}`);
  }
}
