// A mail address: the Address every part passes around, its grammar and limits after RFC 5321 §4.1.2 (atext from
// RFC 5322 §3.2.3, UTF-8 from RFC 6531 §3.3), and its written form. The SMTP path parser (smtp/path-parser.ts) and
// every configured address (config/schema.ts, mail/local-users.ts) check against these, and nothing else.

/** A mailbox: local-part and domain as received (the local part keeps its case; the domain is as written). */
export interface Address {
  /** The local part, unquoted (a quoted-string's quotes and backslash escapes removed). */
  readonly local: string;
  /** The domain, or an address literal such as "[192.0.2.1]" / "[IPv6:::1]"; "" only for the bare <postmaster> recipient. */
  readonly domain: string;
}

/** RFC 5321 §4.5.3.1.1: a local part is at most 64 octets. */
export const MAX_LOCAL_PART = 64;
/** A domain name is at most 253 octets written out (RFC 1035 §2.3.4: 255 on the wire). */
export const MAX_DOMAIN = 253;
/** RFC 1035 §2.3.4. */
export const MAX_LABEL = 63;

/** UTF8-non-ascii of RFC 6531 §3.3, less separators (no-break spaces and the like) and controls: a regex fragment. */
export const NON_ASCII = '[^\\x00-\\x7f\\p{Z}\\p{Cc}\\p{Cs}]';
/** RFC 5322 atext (letters, digits and !#$%&'*+-/=?^_`{|}~) or UTF8-non-ascii: a regex fragment. */
const ATEXT = `(?:[A-Za-z0-9!#$%&'*+\\-\\/=?^_\`{|}~]|${NON_ASCII})`;
/** Dot-string (RFC 5321 §4.1.2) matched from `lastIndex` (flag y), for a parser that reads on. */
export const DOT_STRING_AT = new RegExp(`${ATEXT}+(?:\\.${ATEXT}+)*`, 'uy');
const DOT_STRING = new RegExp(`^${ATEXT}+(?:\\.${ATEXT}+)*$`, 'u');

export const octets = (s: string): number => Buffer.byteLength(s, 'utf8');

/** Whether a local part can be written without quotes (RFC 5321 §4.1.2 Dot-string). */
export const isDotString = (local: string): boolean => DOT_STRING.test(local);

/** What is wrong with one label of a domain (empty, a hyphen at an end, too long), or null. */
export function labelProblem(label: string): string | null {
  if (label === '') return 'has an empty label (two dots, or a dot at an end)';
  if (label.startsWith('-') || label.endsWith('-')) return `has a label "${label}" that starts or ends with "-"`;
  if (octets(label) > MAX_LABEL) return `has a label longer than ${MAX_LABEL} octets`;
  return null;
}

/**
 * What keeps `name` from being a domain name as a configuration gives it, or null: dot-separated labels of letters,
 * digits and inner hyphens (RFC 5321 §4.1.2 sub-domain), the limits above, and a last label that is not all digits
 * (that would be an IPv4 address, RFC 3696 §2). Internationalized names go in A-label form (xn--).
 */
export function domainProblem(name: string): string | null {
  if (name.length === 0) return 'is empty';
  if (octets(name) > MAX_DOMAIN) return `is longer than ${MAX_DOMAIN} characters`;
  const labels = name.split('.');
  for (const label of labels) {
    const problem = labelProblem(label);
    if (problem !== null) return problem;
    if (!/^[A-Za-z0-9-]+$/.test(label)) return `has a label "${label}" with characters other than letters, digits and inner hyphens`;
  }
  if (/^\d+$/.test(labels[labels.length - 1] ?? '')) return 'ends with a numeric label (an IP address is not a domain name)';
  return null;
}

/** A configured address, "local@domain": its parts, with the domain lower-cased (the local part keeps its case, §2.4). */
export type ConfiguredAddress = { readonly local: string; readonly domain: string; readonly text: string } | { readonly problem: string };

/**
 * Checks an address as written in the configuration: "local@domain" (no quoting, no address literal) with a Dot-string
 * local part of at most 64 octets. The domain is checked by the caller: it must be one of the local domains, or at
 * least a domain name (domainProblem).
 */
export function configuredAddress(text: string): ConfiguredAddress {
  const at = text.lastIndexOf('@');
  const local = text.slice(0, at);
  const domain = text.slice(at + 1);
  if (at <= 0 || domain === '') return { problem: `"${text}" is not an address (local@domain)` };
  if (!isDotString(local)) {
    return { problem: `"${text}" has an invalid local part: letters, digits, dots (not doubled or at an end) and !#$%&'*+/=?^_\`{|}~- only` };
  }
  if (octets(local) > MAX_LOCAL_PART) return { problem: `"${text}" has an invalid local part: longer than ${MAX_LOCAL_PART} octets` };
  return { local, domain: domain.toLowerCase(), text: `${local}@${domain.toLowerCase()}` };
}

/** "local@domain" with the local part quoted when it is not a dot-string; "" for null. */
export function formatAddress(a: Address | null): string {
  if (a === null) return '';
  const local = formatLocalPart(a.local);
  return a.domain === '' ? local : `${local}@${a.domain}`;
}

/** Canonical key for lookups: local part as is but lower-cased, domain lower-cased (case-insensitive matching). */
export function addressKey(a: Address): string {
  return formatAddress({ local: a.local.toLowerCase(), domain: a.domain.toLowerCase() });
}

/** The local part in its minimal quoting (RFC 5321 §4.1.2: "the form that uses the minimum quoting possible"). */
export function formatLocalPart(local: string): string {
  return isDotString(local) ? local : `"${local.replace(/["\\]/g, '\\$&')}"`;
}
