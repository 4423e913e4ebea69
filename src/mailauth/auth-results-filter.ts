// A streaming filter that removes from the header section every Authentication-Results: field claiming our
// authserv-id (RFC 8601 §5: a sender must not be able to forge our verdict), folded continuation lines included, and
// leaves every other field, and the body, byte for byte.

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const TAB = 0x09;
const FIELD = 'authentication-results';
/** The most held back at once: an unfinished line, or an Authentication-Results field whose authserv-id is not read yet. */
const HOLD = 8 * 1024;

type Mode = 'pass' | 'drop' | 'pending';

export class AuthResultsFilter {
  readonly #authservId: string;
  #inBody = false;
  /** The fate of the current field's lines. */
  #field: Mode = 'pass';
  /** The lines of a pending Authentication-Results field. */
  #held: Buffer[] = [];
  #heldSize = 0;
  /** The start of an unfinished line. */
  #partial: Buffer[] = [];
  #partialSize = 0;
  /** Set when an unfinished line grew past HOLD: the rest of the line goes this way without being held. */
  #lineMode: 'pass' | 'drop' | null = null;

  constructor(authservId: string) {
    this.#authservId = authservId.toLowerCase();
  }

  /** Takes the next chunk of the message; returns what to write on (perhaps empty, or the chunk itself in the body). */
  push(chunk: Buffer): Buffer {
    if (this.#inBody) return chunk;
    const out: Buffer[] = [];
    let from = 0;
    while (from < chunk.length && !this.#inBody) {
      const lf = chunk.indexOf(LF, from);
      const end = lf < 0 ? chunk.length : lf + 1;
      const piece = chunk.subarray(from, end);
      from = end;
      if (this.#lineMode !== null) {
        if (this.#lineMode === 'pass') out.push(piece);
        if (lf >= 0) this.#lineMode = null;
        continue;
      }
      if (lf < 0) {
        this.#partial.push(piece);
        this.#partialSize += piece.length;
        if (this.#partialSize > HOLD) this.#longLine(out);
        continue;
      }
      const line = this.#partialSize === 0 ? piece : Buffer.concat([...this.#partial, piece]);
      this.#partial = [];
      this.#partialSize = 0;
      this.#line(line, out);
    }
    if (this.#inBody && from < chunk.length) out.push(chunk.subarray(from));
    if (out.length === 1) return out[0] as Buffer;
    // Nothing removed or held (most mail): the pieces are the chunk itself, which needs no copy.
    return tiles(out, chunk) ? chunk : Buffer.concat(out);
  }

  /** At the end of the message: whatever is still held (a message may end inside its header section). */
  end(): Buffer {
    const out: Buffer[] = [];
    if (!this.#inBody) {
      if (this.#partialSize > 0) {
        const line = Buffer.concat(this.#partial);
        this.#partial = [];
        this.#partialSize = 0;
        this.#line(line, out);
      }
      this.#endField(out);
    }
    return Buffer.concat(out);
  }

  /** One line of the header section, its line ending included (or not, at the very end). */
  #line(line: Buffer, out: Buffer[]): void {
    const first = line[0];
    if (first === LF || (first === CR && line[1] === LF)) {
      // The empty line: the header section ends here.
      this.#endField(out);
      out.push(line);
      this.#inBody = true;
      return;
    }
    if (first === SP || first === TAB) {
      this.#continuation(line, out);
      return;
    }
    this.#endField(out);
    if (isAuthResults(line)) {
      this.#field = 'pending';
      this.#hold(line, out);
    } else {
      this.#field = 'pass';
      out.push(line);
    }
  }

  #continuation(line: Buffer, out: Buffer[]): void {
    if (this.#field === 'pass') out.push(line);
    else if (this.#field === 'pending') this.#hold(line, out);
  }

  #hold(line: Buffer, out: Buffer[]): void {
    this.#held.push(line);
    this.#heldSize += line.length;
    const claim = authservIdOf(Buffer.concat(this.#held), false);
    if (claim !== null) this.#decide(claim, out);
    // An authserv-id hidden behind kilobytes of comments is not worth reading: such a field is dropped.
    else if (this.#heldSize > HOLD) this.#decide(this.#authservId, out);
  }

  /** The current field ends: a pending one is decided on what it holds (no authserv-id at all: dropped, it is malformed). */
  #endField(out: Buffer[]): void {
    if (this.#field !== 'pending') return;
    this.#decide(authservIdOf(Buffer.concat(this.#held), true) ?? this.#authservId, out);
  }

  #decide(authservId: string, out: Buffer[]): void {
    this.#field = this.#ours(authservId) ? 'drop' : 'pass';
    if (this.#field === 'pass') out.push(...this.#held);
    this.#held = [];
    this.#heldSize = 0;
  }

  /** An unfinished line past HOLD octets: decide its fate from its start and stream the rest of it. */
  #longLine(out: Buffer[]): void {
    const start = Buffer.concat(this.#partial);
    this.#partial = [];
    this.#partialSize = 0;
    const first = start[0];
    if (first === SP || first === TAB) {
      if (this.#field === 'pending') this.#decide(authservIdOf(Buffer.concat([...this.#held, start]), true) ?? this.#authservId, out);
    } else {
      this.#endField(out);
      this.#field = isAuthResults(start) ? this.#decideLong(start) : 'pass';
    }
    this.#lineMode = this.#field === 'drop' ? 'drop' : 'pass';
    if (this.#lineMode === 'pass') out.push(start);
  }

  #decideLong(start: Buffer): Mode {
    const claim = authservIdOf(start, true);
    return claim === null || this.#ours(claim) ? 'drop' : 'pass';
  }

  /** Our id whatever its case, and with the final dot of a fully qualified name ("mx.example.org."), which names us too. */
  #ours(id: string): boolean {
    const lower = id.toLowerCase();
    return lower === this.#authservId || lower === `${this.#authservId}.` || `${lower}.` === this.#authservId;
  }
}

/** Whether `pieces` are, in order, the whole of `chunk`'s memory (subarrays of it end to end). */
function tiles(pieces: readonly Buffer[], chunk: Buffer): boolean {
  let offset = chunk.byteOffset;
  for (const p of pieces) {
    if (p.buffer !== chunk.buffer || p.byteOffset !== offset) return false;
    offset += p.length;
  }
  return offset === chunk.byteOffset + chunk.length;
}

/**
 * Whether a line starts an Authentication-Results field. Most lines are told by their first octet: one that is neither
 * "a", "A" nor something fieldName's trim() removes (controls, SP, NBSP) cannot start that name.
 */
function isAuthResults(line: Buffer): boolean {
  const c = line[0];
  if (c === undefined || ((c | 0x20) !== 0x61 && c > 0x20 && c !== 0xa0)) return false;
  return fieldName(line) === FIELD;
}

/** The lower-cased name of the field a line starts, or null for a line without a colon. */
function fieldName(line: Buffer): string | null {
  const colon = line.indexOf(0x3a);
  if (colon <= 0) return null;
  return line.subarray(0, colon).toString('latin1').trim().toLowerCase();
}

/**
 * The authserv-id at the start of an Authentication-Results value (RFC 8601 §2.2: CFWS, then the id), or null when the
 * field so far does not tell it yet (`complete`: the field has ended, so what is there is all there will be).
 */
export function authservIdOf(field: Buffer, complete: boolean): string | null {
  const text = field.toString('latin1');
  const colon = text.indexOf(':');
  if (colon < 0) return null;
  const value = text.slice(colon + 1);
  let i = 0;
  let depth = 0;
  for (; i < value.length; i++) {
    const c = value[i];
    if (depth > 0) {
      if (c === '\\') i++;
      else if (c === '(') depth++;
      else if (c === ')') depth--;
    } else if (c === '(') {
      depth++;
    } else if (c !== ' ' && c !== '\t' && c !== '\r' && c !== '\n') {
      break;
    }
  }
  const start = i;
  // RFC 8601 §2.2: the authserv-id is a "value" (RFC 2045), a token or a quoted-string: "mx.example.org" names us too.
  if (value[start] === '"') return quotedString(value, start, complete);
  // A token ends at a tspecial, a space or a control (RFC 2045 §5.1): "mx.example.org/x" or "mx.example.org,x" is
  // malformed, but a reader that stops at the first of those sees our id there, so it counts as ours.
  for (; i < value.length && !TOKEN_END.test(value[i] as string); i++);
  if (i === start) return null;
  // The id's end must have been seen, or the field must be over: "mx.exa" may still become "mx.example.org".
  if (i === value.length && !complete) return null;
  return value.slice(start, i);
}

const TOKEN_END = /[()<>@,;:\\"/[\]?=\x00-\x20\x7f]/;

/** The content of the quoted-string opening at `start` (escapes undone), or null while its closing quote is still to come. */
function quotedString(value: string, start: number, complete: boolean): string | null {
  let content = '';
  for (let i = start + 1; i < value.length; i++) {
    const c = value[i] as string;
    if (c === '"') return content;
    if (c === '\\' && i + 1 < value.length) content += value[++i];
    else if (c !== '\r' && c !== '\n') content += c;
  }
  // Never closed: a field that ended so is malformed; what it holds is taken as its id (ours if it is ours).
  return complete ? content : null;
}
