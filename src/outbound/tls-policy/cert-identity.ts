// Is a certificate valid for a host name? RFC 6125 §6.4 as DANE and MTA-STS ask (RFC 7672 §3.2.3, RFC 8461 §4.2).
import type { X509Certificate } from 'node:crypto';

/**
 * OpenSSL's X509_check_host with the strict flags: "*" only as the whole left-most label and standing for exactly
 * one label (no "f*.example.com", no "*.com"-like single-label parents), DNS subjectAltNames first, and the
 * subject CN only when the certificate has no DNS name at all (RFC 6125 §6.4.4).
 */
const CHECK = { subject: 'default', wildcards: true, partialWildcards: false, multiLabelWildcards: false, singleLabelSubdomains: false } as const;

/** The first of `names` the certificate is valid for, or null. Names are host names (a final dot is ignored). */
export function matchingName(cert: X509Certificate, names: readonly string[]): string | null {
  for (const name of names) {
    const n = name.replace(/\.$/, '');
    if (n !== '' && cert.checkHost(n, CHECK) !== undefined) return n;
  }
  return null;
}

/** The DNS names a certificate holds, for messages: its DNS subjectAltNames, else its CN. */
export function certificateNames(cert: X509Certificate): string[] {
  const dns = (cert.subjectAltName ?? '')
    .split(', ')
    .filter((e) => e.startsWith('DNS:'))
    .map((e) => e.slice(4));
  if (dns.length > 0) return dns;
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1];
  return cn !== undefined ? [cn] : [];
}
