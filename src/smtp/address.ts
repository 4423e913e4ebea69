// Reverse-path and forward-path parsing after RFC 5321 §4.1.2 (+ RFC 6531 for SMTPUTF8).
// STUB: the contract only; the parser is being written.

/** A mailbox: local-part and domain as received (the local part keeps its case; the domain is as written). */
export interface Address {
  /** The local part, unquoted (a quoted-string's quotes and backslash escapes removed). */
  readonly local: string;
  /** The domain, or an address literal such as "[192.0.2.1]" / "[IPv6:::1]"; "" only for the bare <postmaster> recipient. */
  readonly domain: string;
}

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

/** Parses the argument of MAIL ("FROM:<a@b> SIZE=10"); null path for "<>". Throws SmtpError 501 5.1.7 / 501 5.5.4 / 553 5.6.7. */
export function parseReversePath(_args: string, _opts: ParseOptions): ParsedPath<Address | null> {
  throw new Error('not implemented');
}

/** Parses the argument of RCPT ("TO:<a@b> NOTIFY=NEVER"); accepts "<Postmaster>" with domain "". Throws SmtpError 501 5.1.3 / 501 5.5.4 / 553 5.6.7. */
export function parseForwardPath(_args: string, _opts: ParseOptions): ParsedPath<Address> {
  throw new Error('not implemented');
}

/** "local@domain" with the local part quoted when it is not a dot-string; "" for null. */
export function formatAddress(_a: Address | null): string {
  throw new Error('not implemented');
}

/** Canonical key for lookups: local part as is but lower-cased, domain lower-cased (case-insensitive matching). */
export function addressKey(_a: Address): string {
  throw new Error('not implemented');
}
