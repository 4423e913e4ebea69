// The fields of a header section as DKIM signs them (RFC 6376 §5.4): each field's octets as received, folded lines
// joined with CRLF, and its name lower-cased for matching. The shape is mailauth's ({key, casedKey, line}), so that its
// ARC chain reader takes them as they are; one pass over the octets, without the regular expressions and latin1
// strings of mailauth's own parser (a tenth of the checks' cost for a 4 KiB message).

export interface RawHeaderField {
  /** The field name, lower-cased ("" for a line without one). */
  readonly key: string;
  /** The field name as written, without the WSP before the colon. */
  readonly casedKey: string;
  /** The whole field without its last line ending; folded lines joined with CRLF whatever the message used. */
  readonly line: Buffer;
}

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const TAB = 0x09;
const COLON = 0x3a;

/**
 * Every field of `section` (the header section, its empty line optional), in order; LF or CRLF line endings. One pass
 * with indexOf, no buffer per line: a field is a subarray of the section when its line endings are CRLF already, one
 * copy with CRs added when a folded field had LF endings.
 */
export function rawHeaderFields(section: Buffer): RawHeaderField[] {
  const fields: RawHeaderField[] = [];
  let from = -1; // the current field's first octet; -1: no field yet
  let firstEnd = 0; // the end of its first line, line ending excluded
  let to = 0; // the end of its last line so far, line ending excluded
  let bareLf = false; // one of its line endings is a LF without CR
  for (let start = 0; start < section.length; ) {
    const lf = section.indexOf(LF, start);
    const next = lf < 0 ? section.length : lf + 1;
    const end = lf < 0 ? section.length : lf > start && section[lf - 1] === CR ? lf - 1 : lf;
    if (end === start) break; // the empty line that ends the header section
    const c = section[start];
    if ((c === SP || c === TAB) && from >= 0) {
      // A line starting with WSP continues the field above (RFC 5322 §2.2.3).
      if (section[to] !== CR) bareLf = true;
      to = end;
    } else {
      if (from >= 0) fields.push(field(section, from, firstEnd, to, bareLf));
      from = start;
      firstEnd = end;
      to = end;
      bareLf = false;
    }
    start = next;
  }
  if (from >= 0) fields.push(field(section, from, firstEnd, to, bareLf));
  return fields;
}

function field(section: Buffer, from: number, firstEnd: number, to: number, bareLf: boolean): RawHeaderField {
  const colon = section.indexOf(COLON, from);
  const casedKey = section.toString('latin1', from, colon < 0 || colon > firstEnd ? firstEnd : colon).trim();
  const raw = section.subarray(from, to);
  return { key: casedKey.toLowerCase(), casedKey, line: bareLf ? withCrlf(raw) : raw };
}

/** The field's value after the colon as UTF-8 text, unfolded (RFC 5322 §2.2.3: the line breaks removed, the WSP kept). */
export function fieldValue(field: RawHeaderField): string {
  const value = field.line.toString('utf8', field.line.indexOf(COLON) + 1);
  return value.includes('\r\n') ? value.replace(/\r\n/g, '') : value;
}

/** A folded field whose line endings are (some of them) a LF alone: each such LF preceded by a CR. */
function withCrlf(raw: Buffer): Buffer {
  let bare = 0;
  for (let lf = raw.indexOf(LF); lf >= 0; lf = raw.indexOf(LF, lf + 1)) if (raw[lf - 1] !== CR) bare++;
  const out = Buffer.allocUnsafe(raw.length + bare);
  let n = 0;
  let from = 0;
  for (let lf = raw.indexOf(LF); lf >= 0; lf = raw.indexOf(LF, lf + 1)) {
    if (raw[lf - 1] === CR) continue;
    n += raw.copy(out, n, from, lf);
    out[n++] = CR;
    from = lf;
  }
  n += raw.copy(out, n, from);
  return out;
}

/**
 * The fields an h= list names, in its order, each name taking the lowest field of that name not taken yet (RFC 6376
 * §5.4.2); a name with no field left selects nothing (§5.4: the "over-signed" From). One pass over the fields, then
 * one step per name: an h= of 50,000 names over 50,000 fields fits in the 256 KiB header section, and looking for
 * each name's field among the fields would cost their product, seconds of the checks' thread for one message.
 */
export function selectSignedFields(fields: readonly RawHeaderField[], names: readonly string[]): RawHeaderField[] {
  const wanted: string[] = [];
  /** For each name h= lists: the indexes of its fields, bottom-up, and how many of them were taken. */
  const byName = new Map<string, { at: number[]; taken: number }>();
  for (const raw of names) {
    const name = raw.trim().toLowerCase();
    if (name === '') continue;
    wanted.push(name);
    if (!byName.has(name)) byName.set(name, { at: [], taken: 0 });
  }
  for (let i = fields.length - 1; i >= 0; i--) byName.get((fields[i] as RawHeaderField).key)?.at.push(i);
  const out: RawHeaderField[] = [];
  for (const name of wanted) {
    const entry = byName.get(name) as { at: number[]; taken: number };
    const i = entry.at[entry.taken++];
    if (i !== undefined) out.push(fields[i] as RawHeaderField);
  }
  return out;
}
