// Types for the parts of mailauth 4.13 used beyond its documented API (it ships no types for them). The version is
// pinned exactly in package.json, and the tests run these paths: an upgrade that moves them fails loudly.

declare module 'mailauth/lib/tools.js' {
  export interface ParsedHeader {
    /** Lower-cased field name. */
    key: string | null;
    casedKey: string | undefined;
    /** The whole field, folded lines joined with CRLF. */
    line: Buffer;
  }
  export interface ParsedHeaders {
    parsed: ParsedHeader[];
    original: Buffer;
  }
  export function parseHeaders(section: Buffer): ParsedHeaders;
  /** The fields named by h=, each name taking the next unused field from the bottom (RFC 6376 §5.4.2) when `verify`. */
  export function getSigningHeaderLines(parsed: ParsedHeader[], fieldNames: string, verify: boolean): { keys: string; headers: ParsedHeader[] };
  /** "DKIM-Signature: v=1; a=…" from tag values; folded (CRLF + space) when `folded`. */
  export function formatSignatureHeaderLine(type: 'DKIM', values: Record<string, unknown>, folded: boolean): string;
}

declare module 'mailauth/lib/dkim/header/relaxed.js' {
  import type { ParsedHeader } from 'mailauth/lib/tools.js';
  /** The relaxed canonical form of the signed fields and of the DKIM-Signature field with an empty b= (RFC 6376 §3.7). */
  export function relaxedHeaders(
    type: 'DKIM',
    signingHeaderLines: { keys: string; headers: ParsedHeader[] },
    options: {
      signingDomain: string;
      selector: string;
      algorithm: string;
      canonicalization: string;
      bodyHash: string;
      signTime: Date;
    },
  ): { canonicalizedHeader: Buffer; signatureHeaderLine: string; dkimHeaderOpts: Record<string, unknown> };
}

declare module 'mailauth/lib/parse-dkim-headers.js' {
  /** A tag=value list ("DKIM-Signature: v=1; a=…", or "DNS: TXT;v=DKIM1; p=…"): each tag's value. */
  export default function parseDkimHeaders(line: string | Buffer): { parsed: Record<string, { value?: unknown } | undefined>; original: string | Buffer };
}

declare module 'mailauth/lib/dkim/header/index.js' {
  import type { ParsedHeader } from 'mailauth/lib/tools.js';
  /** The canonical signed fields followed by the signature field with an empty b= (RFC 6376 §3.7). */
  export function generateCanonicalizedHeader(
    type: 'DKIM' | 'ARC' | 'AS',
    signingHeaderLines: { keys: string; headers: ParsedHeader[] },
    options: { signatureHeaderLine: unknown; canonicalization: string; instance: unknown },
  ): { canonicalizedHeader: Buffer };
}

declare module 'mailauth/lib/dkim/dkim-verifier.js' {
  import type { ParsedHeaders } from 'mailauth/lib/tools.js';

  export interface DkimStatus {
    result: string;
    comment?: string | false;
    aligned?: string | false;
    underSized?: number;
    policy?: Record<string, string>;
    header?: { i?: string | false; s?: string; a?: string; b?: string | false };
  }
  export interface DkimResultRow {
    id?: string;
    signingDomain?: string;
    selector?: string;
    algo?: string;
    status: DkimStatus;
    info?: string;
  }
  /** One DKIM-Signature (or ARC signature) as messageHeaders() parses it. */
  export interface SignatureHeader {
    type: 'DKIM' | 'ARC' | 'AS';
    parsed?: Record<string, { value?: unknown } | undefined>;
    /** The whole field as received. */
    original: unknown;
    signingDomain?: string;
    selector?: string;
    signAlgo?: string;
    hashAlgo?: string;
    canonicalization?: string;
    timestamp?: Date | null;
    expiration?: Date | null;
    /** The key of its body hasher in bodyHashes: "canonicalization:hash:l". */
    bodyHashKey?: string;
    /** Set for an unsupported algorithm or canonicalisation, or a missing d= or s=. */
    skip?: boolean;
  }
  /** The chain data that mailauth's arc() takes. */
  export interface ArcData {
    chain: unknown;
    lastEntry?: unknown;
    error?: unknown;
  }

  export class DkimVerifier {
    constructor(options: { resolver?: (name: string, rrtype: string) => Promise<unknown>; minBitLength?: number; curTime?: Date; sender?: string });
    /** "header" until the header section was seen, then "body". */
    state: string;
    headers: ParsedHeaders | false;
    headerFrom: string[];
    results: DkimResultRow[];
    signatureHeaders: SignatureHeader[];
    arc: ArcData;
    bodyHashes: Map<string, unknown>;
    /** Called once the header section is parsed; sets up one body hasher per (canonicalisation, hash, l=). */
    messageHeaders(headers: ParsedHeaders): Promise<void>;
  }
}
