// The author's domain: the domain of the address(es) in the From: field (RFC 5322 §3.6.2), as DKIM signing and DMARC
// (RFC 7489 §3.1, the "RFC5322.From domain") use it.
import { domainToASCII } from 'node:url';
import { headerFields } from './header-fields.js';

export interface Authors {
  /** How many From: fields the header section has (RFC 5322 §3.6 wants exactly one). */
  readonly fields: number;
  /** The domain of each author address, in order, lower-cased A-labels; null for an address with no usable domain. */
  readonly domains: readonly (string | null)[];
}

/** Every author address's domain, over every From: field. */
export function authors(section: Buffer): Authors {
  const froms = headerFields(section).filter((f) => f.name === 'from');
  return { fields: froms.length, domains: froms.flatMap((f) => mailboxDomains(f.value)) };
}

/**
 * The one author domain: exactly one From: field whose addresses all have one and the same valid domain (RFC 7489
 * §6.6.1), else null (no From:, two of them, an address without a domain, authors in different domains).
 */
export function fromDomain(section: Buffer): string | null {
  return soleAuthorDomain(authors(section));
}

/** fromDomain() of authors already read: the one domain of exactly one From: field, else null. */
export function soleAuthorDomain(a: Authors): string | null {
  if (a.fields !== 1 || a.domains.length === 0) return null;
  const first = a.domains[0] ?? null;
  return first !== null && a.domains.every((d) => d === first) ? first : null;
}

/**
 * The domains of a mailbox-list (RFC 5322 §3.4): "Name <a@b>", "a@b (comment)", "\"x, y\" <a@b>, c@d", groups
 * ("team: a@b, c@d;"), obsolete routes ("<@relay:a@b>"). Comments and quoted strings never supply an "@".
 * `toAscii`: domainToASCII, or a memo of it (AsciiDomains).
 */
export function mailboxDomains(value: string, toAscii: (domain: string) => string = domainToASCII): (string | null)[] {
  const out: (string | null)[] = [];
  let plain = ''; // the mailbox's text outside comments and angle brackets, quoted strings blanked
  let angle: string | null = null; // the text inside <...>, when present
  let inside = ''; // the text inside the current <...>
  let inAngle = false;
  const endMailbox = () => {
    const addr = angle ?? plain;
    if (addr.trim() !== '') out.push(domainOf(addr, toAscii));
    plain = '';
    angle = null;
  };
  for (let i = 0; i < value.length; i++) {
    const c = value[i] as string;
    if (c === '(') {
      i = skipComment(value, i);
    } else if (c === '"') {
      i = skipQuoted(value, i);
      if (inAngle) inside += 'q';
      else plain += 'q';
    } else if (inAngle) {
      if (c === '>') {
        inAngle = false;
        angle = inside;
      } else {
        inside += c;
      }
    } else if (c === '<') {
      inAngle = true;
      inside = '';
    } else if (c === ',' || c === ';') {
      endMailbox();
    } else if (c === ':') {
      plain = ''; // a group's display name
    } else {
      plain += c;
    }
  }
  if (inAngle) angle = inside; // an unclosed "<a@b"
  endMailbox();
  return out;
}

function domainOf(addrSpec: string, toAscii: (domain: string) => string): string | null {
  // An obsolete route "@relay1,@relay2:local@domain" (RFC 5322 §4.4) keeps the part after the colon.
  const addr = addrSpec.slice(addrSpec.lastIndexOf(':') + 1).trim();
  const at = addr.lastIndexOf('@');
  if (at <= 0) return null;
  const domain = addr.slice(at + 1).trim().replace(/\.$/, '');
  // A domain literal ("[192.0.2.1]") names no domain a policy could be published for.
  if (domain === '' || domain.startsWith('[') || /\s/.test(domain)) return null;
  const ascii = toAscii(domain.toLowerCase());
  return ascii === '' ? null : ascii;
}

/** The index of the ")" that closes the comment opened at `i` (comments nest, RFC 5322 §3.2.2). */
function skipComment(s: string, i: number): number {
  let depth = 0;
  for (; i < s.length; i++) {
    const c = s[i];
    if (c === '\\') i++;
    else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return i;
  }
  return s.length;
}

/** The index of the '"' that closes the quoted string opened at `i`. */
function skipQuoted(s: string, i: number): number {
  for (i++; i < s.length; i++) {
    const c = s[i];
    if (c === '\\') i++;
    else if (c === '"') return i;
  }
  return s.length;
}
