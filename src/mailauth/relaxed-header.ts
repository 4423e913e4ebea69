// The "relaxed" header canonicalisation of DKIM (RFC 6376 §3.4.2), octet by octet: the data a signature covers is the
// signed fields so canonicalised, each ending in CRLF, then the DKIM-Signature field itself with its b= value emptied
// and no CRLF (§3.7). Written here because mailauth's version runs four regular expressions per field over latin1
// strings, which was a visible share of the checks' and the signer's cost.

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const TAB = 0x09;
const COLON = 0x3a;
const SEMI = 0x3b;
const EQ = 0x3d;

/**
 * The canonical form of `fields` (each CRLF-terminated) followed by `signatureField` (no CRLF) with its b= value
 * removed: the octets to hash and sign.
 */
export function relaxedSignedHeader(fields: readonly { readonly line: Buffer }[], signatureField: Buffer): Buffer {
  let size = signatureField.length;
  for (const f of fields) size += f.line.length + 2;
  const out = Buffer.allocUnsafe(size);
  let n = 0;
  for (const f of fields) {
    n = relaxedInto(f.line, out, n);
    out[n++] = CR;
    out[n++] = LF;
  }
  const start = n;
  n = relaxedInto(signatureField, out, n);
  return out.subarray(0, withoutB(out, start, n));
}

/**
 * Writes the relaxed form of one field at out[n]: name lower-cased, line endings removed (unfolded), WSP runs as one
 * SP, WSP at the end of the value and around the colon removed. Returns the new end. Never longer than the input.
 */
function relaxedInto(line: Buffer, out: Buffer, n: number): number {
  let i = 0;
  const colon = line.indexOf(COLON);
  if (colon >= 0) {
    // The name: lower-cased, WSP before the colon removed (§3.4.2: "Delete any WSP characters ... before and after").
    let nameEnd = colon;
    while (nameEnd > 0 && isWsp(line[nameEnd - 1] as number)) nameEnd--;
    for (; i < nameEnd; i++) {
      const c = line[i] as number;
      out[n++] = c >= 0x41 && c <= 0x5a ? c + 0x20 : c;
    }
    out[n++] = COLON;
    i = colon + 1;
  }
  let space = false;
  let content = false; // a non-WSP octet of the value was written: WSP before the first one is dropped
  for (; i < line.length; i++) {
    const c = line[i] as number;
    // Unfolding: only the line breaks go (CRLF; rawHeaderFields gives every LF its CR), the WSP after them stays. A CR
    // not followed by LF is an octet of the value like any other (§3.4.2 removes only CRLF): dropping it would let a
    // CR be added to a signed field without breaking the signature.
    if (c === LF || (c === CR && line[i + 1] === LF)) continue;
    if (c === SP || c === TAB) {
      space = true;
      continue;
    }
    if (space && content) out[n++] = SP;
    space = false;
    content = true;
    out[n++] = c;
  }
  return n;
}

/**
 * Removes the value of the b= tag (RFC 6376 §3.7) from the canonical signature field at out[from, to), in place (the
 * rest moved up), tags found by the tag-list syntax (§3.2). Returns the field's new end.
 */
function withoutB(out: Buffer, from: number, to: number): number {
  const colon = out.indexOf(COLON, from);
  for (let start = colon < 0 || colon >= to ? from : colon + 1; start < to; ) {
    let end = out.indexOf(SEMI, start);
    if (end < 0 || end > to) end = to;
    const eq = out.indexOf(EQ, start);
    if (eq >= 0 && eq < end && nameIsB(out, start, eq)) {
      out.copyWithin(eq + 1, end, to);
      return to - (end - eq - 1);
    }
    start = end + 1;
  }
  return to;
}

function nameIsB(field: Buffer, start: number, eq: number): boolean {
  let s = start;
  let e = eq;
  while (s < e && isWsp(field[s] as number)) s++;
  while (e > s && isWsp(field[e - 1] as number)) e--;
  return e - s === 1 && field[s] === 0x62;
}

function isWsp(c: number): boolean {
  return c === SP || c === TAB;
}
