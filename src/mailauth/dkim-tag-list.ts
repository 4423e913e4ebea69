// DKIM's tag=value lists (RFC 6376 §3.2), as in a DKIM-Signature field: parsed in one pass, tag names kept as written
// (they are case-sensitive), a repeated tag or a tag without "=" making the whole list invalid.

const TAG_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;
/** Tags whose values may carry folding whitespace anywhere (base64 per §3.5 b= and bh=, the h= and z= lists). */
const SPACE_FREE = new Set(['b', 'bh', 'h', 'z']);

/** The tags of `text` (the field's value, after the colon), or null when it is not a valid tag-list. */
export function parseTagList(text: string): Map<string, string> | null {
  const tags = new Map<string, string>();
  // One pass with indexOf over the text, slicing only the trimmed names and values (no split into specs).
  for (let start = 0; ; ) {
    let end = text.indexOf(';', start);
    if (end < 0) end = text.length;
    const eq = text.indexOf('=', start);
    if (eq < 0 || eq > end) {
      // Only an empty last spec is allowed: the list may end with ";".
      if (end === text.length && skipFws(text, start, end) === end) break;
      return null;
    }
    const name = text.slice(skipFws(text, start, eq), backFws(text, start, eq));
    if (!TAG_NAME.test(name) || tags.has(name)) return null;
    const value = text.slice(skipFws(text, eq + 1, end), backFws(text, eq + 1, end));
    tags.set(name, SPACE_FREE.has(name) ? value.replace(/[ \t\r\n]+/g, '') : value);
    if (end === text.length) break;
    start = end + 1;
  }
  return tags;
}

/** The index of the first octet in text[from, to) that is not folding whitespace (SP, HTAB, CR, LF), else `to`. */
function skipFws(text: string, from: number, to: number): number {
  while (from < to && isFws(text.charCodeAt(from))) from++;
  return from;
}

/** The end of text[from, to) without its trailing folding whitespace. */
function backFws(text: string, from: number, to: number): number {
  while (to > from && isFws(text.charCodeAt(to - 1))) to--;
  return to;
}

function isFws(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a;
}
