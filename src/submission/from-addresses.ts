// The addresses of a From: field's value (RFC 5322 §3.4 mailbox-list, groups and obsolete forms tolerated).
import type { Address } from '../mail/address.js';

type Token =
  | { readonly kind: 'word'; readonly text: string }
  | { readonly kind: 'quoted'; readonly text: string }
  | { readonly kind: 'literal'; readonly text: string }
  | { readonly kind: 'special'; readonly text: '<' | '>' | ',' | ':' | ';' | '@' };

/** atext and dots (RFC 5322 §3.2.3), plus any non-ASCII (RFC 6532 §3.2: UTF-8 in headers). */
const WORD = /[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.\u0080-\u{10FFFF}]+/uy;

/**
 * The address of each mailbox in `value`: "Alice <alice@example.org>, bob@example.org (Bob)" → both. Display
 * names, comments and groups are skipped. Null when the value cannot be read as a list of mailboxes, or holds none:
 * a From: we cannot read is one we cannot vouch for.
 */
export function fromAddresses(value: string): Address[] | null {
  const tokens = tokenize(value);
  if (tokens === null) return null;
  const found: Address[] = [];
  let element: Token[] = [];
  let angle: Token[] | null = null; // inside <...>
  let inAngle = false;
  let inGroup = false;
  const flush = (): boolean => {
    const spec = angle ?? element;
    element = [];
    angle = null;
    if (spec.length === 0) return true; // obs-mbox-list allows empty elements ("a@b, , c@d")
    const address = addrSpec(spec);
    if (address === null) return false;
    found.push(address);
    return true;
  };
  for (const t of tokens) {
    if (inAngle) {
      if (t.kind === 'special' && t.text === '>') inAngle = false;
      else if (t.kind === 'special' && t.text === ':') angle = []; // obs-route "<@a,@b:user@domain>": the route goes
      else (angle as Token[]).push(t);
      continue;
    }
    if (t.kind !== 'special') {
      if (angle !== null) return null; // text after the closing '>'
      element.push(t);
    } else if (t.text === '<') {
      if (angle !== null) return null;
      inAngle = true;
      angle = [];
      element = []; // what came before was the display name
    } else if (t.text === ',') {
      if (!flush()) return null;
    } else if (t.text === ':' && !inGroup && angle === null) {
      inGroup = true; // "name: a@b, c@d;" – the name before the colon is the group's display name
      element = [];
    } else if (t.text === ';' && inGroup) {
      if (!flush()) return null;
      inGroup = false;
    } else if (t.text === '@' && angle === null) {
      element.push(t);
    } else {
      return null;
    }
  }
  if (inAngle || !flush()) return null;
  return found.length > 0 ? found : null;
}

/** local-part "@" domain, from the tokens between the brackets (or of a bare address). */
function addrSpec(tokens: readonly Token[]): Address | null {
  const at = tokens.findLastIndex((t) => t.kind === 'special' && t.text === '@');
  if (at <= 0 || at !== tokens.length - 2) return null;
  const localTokens = tokens.slice(0, at);
  if (localTokens.some((t) => t.kind === 'special' || t.kind === 'literal')) return null;
  const domain = tokens[at + 1] as Token;
  if (domain.kind !== 'word' && domain.kind !== 'literal') return null;
  // obs-local-part: words and quoted strings joined by dots ("john"."doe"); the tokens keep their own dots.
  const local = localTokens.map((t) => t.text).join('');
  if (local === '' || domain.text === '' || domain.text.startsWith('.') || domain.text.endsWith('.')) return null;
  return { local, domain: domain.text };
}

/** Splits a value into tokens, dropping white space and comments; null on an unclosed quote, comment or literal. */
function tokenize(value: string): Token[] | null {
  const tokens: Token[] = [];
  let i = 0;
  while (i < value.length) {
    const c = value[i] as string;
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') {
      i++;
    } else if (c === '(') {
      const end = skipComment(value, i);
      if (end < 0) return null;
      i = end;
    } else if (c === '"') {
      let text = '';
      let j = i + 1;
      for (; j < value.length && value[j] !== '"'; j++) text += value[j] === '\\' ? (value[++j] ?? '') : value[j];
      if (j >= value.length) return null;
      tokens.push({ kind: 'quoted', text });
      i = j + 1;
    } else if (c === '[') {
      const end = value.indexOf(']', i);
      if (end < 0) return null;
      tokens.push({ kind: 'literal', text: value.slice(i, end + 1) });
      i = end + 1;
    } else if ('<>,:;@'.includes(c)) {
      tokens.push({ kind: 'special', text: c as '<' | '>' | ',' | ':' | ';' | '@' });
      i++;
    } else {
      WORD.lastIndex = i;
      const m = WORD.exec(value);
      if (m === null) return null; // a character no part of an address may hold
      tokens.push({ kind: 'word', text: m[0] });
      i += m[0].length;
    }
  }
  return tokens;
}

/** The index after the comment that opens at `start` (comments nest, RFC 5322 §3.2.2), or -1 if it never closes. */
function skipComment(value: string, start: number): number {
  let depth = 0;
  for (let i = start; i < value.length; i++) {
    const c = value[i];
    if (c === '\\') i++;
    else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return i + 1;
  }
  return -1;
}
