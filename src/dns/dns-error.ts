// Why a DNS lookup gave no records, in Node's words (err.code) and in ours (kind): no such name, no such data, or try later.

/** Node's dns error codes (node:dns constants), so that code written against node:dns reads ours unchanged. */
export type DnsErrorCode =
  /** NXDOMAIN: the name does not exist. */
  | 'ENOTFOUND'
  /** NOERROR without a record of the type asked: the name exists, the data does not ("NODATA", RFC 2308 §2.2). */
  | 'ENODATA'
  /** Every server answered SERVFAIL (a validating resolver also says this for a DNSSEC-bogus answer). */
  | 'ESERVFAIL'
  /** No server answered in time. */
  | 'ETIMEOUT'
  /** Every server refused the query. */
  | 'EREFUSED'
  /** No server could be reached (ICMP port unreachable, no route). */
  | 'ECONNREFUSED'
  /** A server said our query was malformed. */
  | 'EFORMERR'
  /** Every server said it does not do this kind of query. */
  | 'ENOTIMP'
  /** A server's answer made no sense (a CNAME loop, a broken packet). */
  | 'EBADRESP'
  /** The name cannot be asked about (empty, a label over 63 octets, over 253 in all). */
  | 'EBADNAME';

/**
 * What a caller does with the failure: "nxdomain" and "nodata" are answers (cacheable, permanent), "temporary"
 * means ask again later and never bounce on it, "invalid" is the caller's own mistake.
 */
export type DnsErrorKind = 'nxdomain' | 'nodata' | 'temporary' | 'invalid';

const KINDS: Readonly<Record<DnsErrorCode, DnsErrorKind>> = {
  ENOTFOUND: 'nxdomain',
  ENODATA: 'nodata',
  ESERVFAIL: 'temporary',
  ETIMEOUT: 'temporary',
  EREFUSED: 'temporary',
  ECONNREFUSED: 'temporary',
  EFORMERR: 'temporary',
  ENOTIMP: 'temporary',
  EBADRESP: 'temporary',
  EBADNAME: 'invalid',
};

/** The record types the resolver asks for, as Node spells them in err.syscall ("queryMx"). */
export type RecordType = 'A' | 'AAAA' | 'MX' | 'TXT' | 'TLSA' | 'PTR' | 'CNAME' | 'NS';

export class DnsError extends Error {
  readonly kind: DnsErrorKind;
  /** "queryMx", "queryTxt"…: as node:dns sets it. */
  readonly syscall: string;

  constructor(
    readonly code: DnsErrorCode,
    /** The name asked about. */
    readonly hostname: string,
    readonly rrtype: RecordType,
    /** For NXDOMAIN and NODATA: the denial itself was DNSSEC-validated (the AD bit), RFC 7672 §2.1.1. */
    readonly authenticated = false,
    /** Seconds a negative answer may be remembered (RFC 2308 §5); 0 for failures. */
    readonly ttl = 0,
    detail?: string,
  ) {
    const syscall = `query${rrtype.charAt(0)}${rrtype.slice(1).toLowerCase()}`;
    super(`${syscall} ${code} ${hostname}${detail !== undefined ? ` (${detail})` : ''}`);
    this.name = 'DnsError';
    this.kind = KINDS[code];
    this.syscall = syscall;
  }

  /** Ask again later: the DNS did not give an answer, as opposed to answering "no". */
  get temporary(): boolean {
    return this.kind === 'temporary';
  }
}

export function isDnsError(err: unknown): err is DnsError {
  return err instanceof DnsError;
}
