// Reverse-path and forward-path parsing after RFC 5321 §4.1.2 (+ RFC 6531 for SMTPUTF8), and the ESMTP parameters after them.
import { isIPv4, isIPv6 } from 'node:net';
import { domainToASCII } from 'node:url';
import { DOT_STRING_AT, labelProblem, MAX_DOMAIN, MAX_LABEL, MAX_LOCAL_PART, NON_ASCII, octets, type Address } from '../mail/address.js';
import { replies } from './replies.js';
import { SmtpError } from './smtp-error.js';

/** ESMTP parameters after the path, keyword upper-cased; a keyword without "=value" maps to true. */
export type EsmtpParams = ReadonlyMap<string, string | true>;

export interface ParsedPath<P> {
  readonly path: P;
  readonly params: EsmtpParams;
}

export interface ParseOptions {
  /** Allow non-ASCII UTF-8 in local part and domain (the client gave SMTPUTF8, RFC 6531). */
  readonly utf8: boolean;
}

/** RFC 5321 §4.5.3.1.3, angle brackets and source route included, in octets of the UTF-8 form. */
const MAX_PATH = 256;
/** Quoted-string: qtextSMTP (+ UTF8-non-ascii, RFC 6531 §3.3) and quoted-pairSMTP. */
const QUOTED_STRING = new RegExp(`"((?:[\\x20\\x21\\x23-\\x5b\\x5d-\\x7e]|${NON_ASCII}|\\\\[\\x20-\\x7e])*)"`, 'uy');
const DOMAIN_RUN = new RegExp(`(?:[A-Za-z0-9.\\-]|${NON_ASCII})+`, 'uy');
/** "[" 1*dcontent "]" (dcontent excludes "[", "\" and "]"). */
const ADDRESS_LITERAL = /\[([\x21-\x5a\x5e-\x7e]+)\]/y;
const LDH_STR = /^[A-Za-z0-9-]*[A-Za-z0-9]$/;
const ESMTP_KEYWORD = /^[A-Za-z0-9][A-Za-z0-9-]*$/;
const ESMTP_VALUE = /^[\x21-\x3c\x3e-\x7e]+$/;
/** Never part of an address: CR, LF, NUL and every other control, and lone surrogates (broken UTF-16). */
const FORBIDDEN = /[\p{Cc}\p{Cs}]/u;
const NON_ASCII_ANY = /[^\x00-\x7f]/;

type Fail = (hint: string) => SmtpError;

/** Parses the argument of MAIL ("FROM:<a@b> SIZE=10"); null path for "<>". Throws SmtpError 501 5.1.7 / 501 5.5.4 / 553 5.6.7. */
export function parseReversePath(args: string, opts: ParseOptions): ParsedPath<Address | null> {
  const fail: Fail = (hint) => new SmtpError(replies.badSenderSyntax(hint));
  const { path, params, nonAscii } = parseArgs(args, 'FROM:', 'reverse', fail);
  // RFC 6531 §3.4: UTF-8 in the envelope only in a transaction opened with MAIL ... SMTPUTF8.
  if (nonAscii && !(opts.utf8 && params.has('SMTPUTF8'))) throw new SmtpError(replies.utf8NotEnabled());
  return { path, params };
}

/** Parses the argument of RCPT ("TO:<a@b> NOTIFY=NEVER"); accepts "<Postmaster>" with domain "". Throws SmtpError 501 5.1.3 / 501 5.5.4 / 553 5.6.7. */
export function parseForwardPath(args: string, opts: ParseOptions): ParsedPath<Address> {
  const fail: Fail = (hint) => new SmtpError(replies.badRecipientSyntax(hint));
  const { path, params, nonAscii } = parseArgs(args, 'TO:', 'forward', fail);
  if (path === null) throw fail('the null path <> is not a recipient');
  if (nonAscii && !opts.utf8) throw new SmtpError(replies.utf8NotEnabled());
  return { path, params };
}

/** Parses "ESMTP parameters" (RFC 5321 §4.1.2): space-separated keyword[=value], keywords upper-cased. */
export function parseEsmtpParams(text: string): EsmtpParams {
  const params = new Map<string, string | true>();
  for (const token of text.split(' ')) {
    if (token === '') continue; // tolerate doubled and trailing spaces
    const eq = token.indexOf('=');
    const keyword = eq < 0 ? token : token.slice(0, eq);
    if (!ESMTP_KEYWORD.test(keyword)) throw new SmtpError(replies.badParameter('malformed parameter keyword'));
    const value = eq < 0 ? true : token.slice(eq + 1);
    if (value !== true && !ESMTP_VALUE.test(value)) {
      throw new SmtpError(replies.badParameter(`malformed value for ${keyword.toUpperCase()}`));
    }
    const key = keyword.toUpperCase();
    if (params.has(key)) throw new SmtpError(replies.badParameter(`${key} given twice`));
    params.set(key, value);
  }
  return params;
}

interface ParsedArgs {
  readonly path: Address | null;
  readonly params: EsmtpParams;
  /** Non-ASCII in the local part or a domain (RFC 6531). */
  readonly nonAscii: boolean;
}

function parseArgs(args: string, prefix: 'FROM:' | 'TO:', kind: 'reverse' | 'forward', fail: Fail): ParsedArgs {
  if (FORBIDDEN.test(args)) throw fail('control characters are not allowed');
  if (args.slice(0, prefix.length).toUpperCase() !== prefix) throw fail(`expected ${prefix}<address>`);
  let p = prefix.length;
  // RFC 5321 §4.1.2 has no space here, but many clients send "MAIL FROM: <a@b>".
  while (args[p] === ' ') p++;
  if (args[p] !== '<') throw fail('the address must be in angle brackets');
  const start = p;
  const { address, nonAscii, next } = parsePath(args, p + 1, kind, fail);
  if (args[next] !== '>') throw fail(args[next] === undefined ? 'missing ">"' : 'unexpected character in the address');
  const end = next + 1;
  if (octets(args.slice(start, end)) > MAX_PATH) throw fail(`path longer than ${MAX_PATH} octets`);
  const rest = args.slice(end);
  if (rest !== '' && rest[0] !== ' ') throw fail('unexpected text after the address');
  return { path: address, params: parseEsmtpParams(rest), nonAscii };
}

interface PathBody {
  readonly address: Address | null;
  readonly nonAscii: boolean;
  /** Index of the character after the mailbox (should be ">"). */
  readonly next: number;
}

/** The inside of "<...>", from just after "<". */
function parsePath(s: string, start: number, kind: 'reverse' | 'forward', fail: Fail): PathBody {
  let p = start;
  if (s[p] === '>') return { address: null, nonAscii: false, next: p };
  let nonAscii = false;
  const hasRoute = s[p] === '@';
  if (hasRoute) {
    // A source route "@a,@b:" MUST be accepted and SHOULD be ignored (RFC 5321 §4.1.2, Appendix C): never followed.
    for (;;) {
      const d = parseDomain(s, p + 1, fail);
      nonAscii ||= d.nonAscii;
      p = d.next;
      if (s[p] === ',' && s[p + 1] === '@') {
        p++;
        continue;
      }
      if (s[p] === ':') break;
      throw fail('malformed source route');
    }
    p++;
  }
  const local = parseLocalPart(s, p, fail);
  nonAscii ||= local.nonAscii;
  p = local.next;
  // RFC 5321 §4.1.1.3: "<Postmaster>" without a domain MUST be accepted as a recipient.
  if (kind === 'forward' && !hasRoute && !local.quoted && s[p] === '>' && local.value.toLowerCase() === 'postmaster') {
    return { address: { local: 'postmaster', domain: '' }, nonAscii: false, next: p };
  }
  if (s[p] !== '@') throw fail(s[p] === '>' || s[p] === undefined ? 'missing @domain' : 'invalid character in the local part');
  const domain = s[p + 1] === '[' ? parseAddressLiteral(s, p + 1, fail) : parseDomain(s, p + 1, fail);
  nonAscii ||= domain.nonAscii;
  return { address: { local: local.value, domain: domain.text }, nonAscii, next: domain.next };
}

interface LocalPart {
  readonly value: string;
  readonly quoted: boolean;
  readonly nonAscii: boolean;
  readonly next: number;
}

function parseLocalPart(s: string, start: number, fail: Fail): LocalPart {
  const quoted = s[start] === '"';
  const re = quoted ? QUOTED_STRING : DOT_STRING_AT;
  re.lastIndex = start;
  const m = re.exec(s);
  if (m === null) {
    if (quoted) throw fail('unterminated or invalid quoted local part');
    throw fail(s[start] === '@' ? 'empty local part' : 'invalid local part');
  }
  const next = re.lastIndex;
  if (!quoted && s[next] === '.') throw fail('misplaced dot in the local part');
  const raw = m[0];
  if (octets(raw) > MAX_LOCAL_PART) throw fail(`local part longer than ${MAX_LOCAL_PART} octets`);
  // RFC 5321 §4.1.2: all quoted forms are equivalent, so keep the unquoted value.
  const value = quoted ? (m[1] ?? '').replace(/\\([\x20-\x7e])/g, '$1') : raw;
  return { value, quoted, nonAscii: NON_ASCII_ANY.test(raw), next };
}

interface DomainPart {
  readonly text: string;
  readonly nonAscii: boolean;
  readonly next: number;
}

/** Domain = sub-domain *("." sub-domain), sub-domain = Let-dig [Ldh-str] (+ U-label, RFC 6531 §3.3). */
function parseDomain(s: string, start: number, fail: Fail): DomainPart {
  DOMAIN_RUN.lastIndex = start;
  const m = DOMAIN_RUN.exec(s);
  if (m === null) throw fail('missing or invalid domain');
  const text = m[0];
  if (octets(text) > MAX_DOMAIN) throw fail(`domain longer than ${MAX_DOMAIN} octets`);
  const labels = text.split('.');
  for (const label of labels) {
    const problem = labelProblem(label);
    if (problem !== null) throw fail(`the domain ${problem}`);
  }
  const nonAscii = NON_ASCII_ANY.test(text);
  if (nonAscii) {
    // A U-label must have an A-label (RFC 5890): IDNA must take it, and keep the labels (no "。" acting as a dot).
    const ascii = domainToASCII(text);
    const aLabels = ascii === '' ? [] : ascii.split('.');
    if (aLabels.length !== labels.length || aLabels.some((l) => l === '' || l.length > MAX_LABEL) || ascii.length > MAX_DOMAIN) {
      throw fail('invalid internationalized domain');
    }
  }
  return { text, nonAscii, next: DOMAIN_RUN.lastIndex };
}

/** address-literal: [IPv4], [IPv6:...] or [tag:content] (RFC 5321 §4.1.3). Kept as written, brackets included. */
function parseAddressLiteral(s: string, start: number, fail: Fail): DomainPart {
  ADDRESS_LITERAL.lastIndex = start;
  const m = ADDRESS_LITERAL.exec(s);
  if (m === null) throw fail('malformed address literal');
  const content = m[1] ?? '';
  const colon = content.indexOf(':');
  if (colon < 0) {
    if (!isIPv4(content)) throw fail('invalid IPv4 address literal');
  } else {
    const tag = content.slice(0, colon);
    const rest = content.slice(colon + 1);
    if (tag.toLowerCase() === 'ipv6') {
      if (!/^[0-9A-Fa-f:.]+$/.test(rest) || !isIPv6(rest)) throw fail('invalid IPv6 address literal');
    } else if (!LDH_STR.test(tag) || rest === '') {
      throw fail('malformed address literal');
    }
  }
  const text = m[0];
  if (text.length > MAX_DOMAIN) throw fail(`domain longer than ${MAX_DOMAIN} octets`);
  return { text, nonAscii: false, next: ADDRESS_LITERAL.lastIndex };
}
