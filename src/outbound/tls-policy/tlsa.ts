// TLSA records (RFC 6698 §2) as DANE for SMTP uses them (RFC 7672 §3.1): which are usable, and what one matches.
import { createHash, type X509Certificate } from 'node:crypto';
import type { TlsaRecord } from '../../dns/records.js';

export type { TlsaRecord } from '../../dns/records.js';

/** Certificate usages (RFC 7218 §2.1 names). SMTP uses only DANE-TA and DANE-EE (RFC 7672 §3.1). */
export const Usage = { PKIX_TA: 0, PKIX_EE: 1, DANE_TA: 2, DANE_EE: 3 } as const;
/** Selectors: the whole certificate, or its SubjectPublicKeyInfo. */
export const Selector = { CERT: 0, SPKI: 1 } as const;
/** Matching types: the data itself, or its SHA-256 or SHA-512 digest. */
export const Matching = { FULL: 0, SHA256: 1, SHA512: 2 } as const;

const DIGEST_LENGTH: Readonly<Record<number, number>> = { [Matching.SHA256]: 32, [Matching.SHA512]: 64 };

/**
 * A record SMTP clients can use (RFC 7672 §3.1): usage DANE-TA(2) or DANE-EE(3) (PKIX-TA(0) and PKIX-EE(1) are
 * "unusable" for SMTP, §3.1.3), a known selector and matching type, and data of the right length for its digest.
 */
export function isUsableTlsa(r: TlsaRecord): boolean {
  if (r.usage !== Usage.DANE_TA && r.usage !== Usage.DANE_EE) return false;
  if (r.selector !== Selector.CERT && r.selector !== Selector.SPKI) return false;
  if (r.matchingType === Matching.FULL) return r.data.length > 0;
  return DIGEST_LENGTH[r.matchingType] === r.data.length;
}

/** The data a record with this selector and matching type would carry for `cert`. */
export function tlsaData(cert: X509Certificate, selector: number, matchingType: number): Buffer {
  const selected = selector === Selector.SPKI ? cert.publicKey.export({ type: 'spki', format: 'der' }) : cert.raw;
  if (matchingType === Matching.SHA256) return createHash('sha256').update(selected).digest();
  if (matchingType === Matching.SHA512) return createHash('sha512').update(selected).digest();
  return Buffer.from(selected);
}

/** Whether `cert` is the one the record designates (its selector and matching type applied). */
export function tlsaMatches(r: TlsaRecord, cert: X509Certificate): boolean {
  return tlsaData(cert, r.selector, r.matchingType).equals(r.data);
}

/** The record designating `cert`: what a domain would publish, e.g. `3 1 1` for its server key. */
export function tlsaFor(cert: X509Certificate, usage: number, selector: number, matchingType: number): TlsaRecord {
  return { usage, selector, matchingType, data: tlsaData(cert, selector, matchingType) };
}

/**
 * The presentation form of RFC 6698 §2.2: "3 1 1 0123abcd…", the data in hex, possibly split by blanks and
 * wrapped in parentheses across lines as zone files write it. Throws on anything else.
 */
export function parseTlsa(text: string): TlsaRecord {
  const words = text.replace(/[()]/g, ' ').trim().split(/\s+/);
  const [u, s, m, ...hex] = words;
  const field = (w: string | undefined, what: string): number => {
    if (w === undefined || !/^\d{1,3}$/.test(w) || Number(w) > 255) throw new Error(`TLSA ${what} must be a number from 0 to 255, found ${JSON.stringify(w ?? '')}`);
    return Number(w);
  };
  const data = hex.join('');
  if (data === '' || !/^(?:[0-9A-Fa-f]{2})+$/.test(data)) throw new Error('TLSA association data must be an even number of hex digits');
  return { usage: field(u, 'usage'), selector: field(s, 'selector'), matchingType: field(m, 'matching type'), data: Buffer.from(data, 'hex') };
}

/** "3 1 1 0123abcd…" (RFC 6698 §2.2). */
export function formatTlsa(r: TlsaRecord): string {
  return `${r.usage} ${r.selector} ${r.matchingType} ${r.data.toString('hex')}`;
}
