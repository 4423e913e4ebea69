// DKIM's tag=value lists (RFC 6376 §3.2), as in a DKIM-Signature field: parsed in one pass, tag names kept as written
// (they are case-sensitive), a repeated tag or a tag without "=" making the whole list invalid.

const TAG_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;
/** Tags whose values may carry folding whitespace anywhere (base64 per §3.5 b= and bh=, the h= and z= lists). */
const SPACE_FREE = new Set(['b', 'bh', 'h', 'z']);

/** The tags of `text` (the field's value, after the colon), or null when it is not a valid tag-list. */
export function parseTagList(text: string): Map<string, string> | null {
  const tags = new Map<string, string>();
  const specs = text.split(';');
  for (let k = 0; k < specs.length; k++) {
    const spec = specs[k] as string;
    const eq = spec.indexOf('=');
    if (eq < 0) {
      // Only an empty last spec is allowed: the list may end with ";".
      if (k === specs.length - 1 && trimWsp(spec) === '') break;
      return null;
    }
    const name = trimWsp(spec.slice(0, eq));
    if (!TAG_NAME.test(name) || tags.has(name)) return null;
    const value = trimWsp(spec.slice(eq + 1));
    tags.set(name, SPACE_FREE.has(name) ? value.replace(/[ \t\r\n]+/g, '') : value);
  }
  return tags;
}

/** Removes folding whitespace (SP, HTAB, CR, LF) at both ends; String.trim would also take NBSP and other characters. */
function trimWsp(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && isFws(s.charCodeAt(a))) a++;
  while (b > a && isFws(s.charCodeAt(b - 1))) b--;
  return s.slice(a, b);
}

function isFws(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a;
}
