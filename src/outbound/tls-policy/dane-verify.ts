// Does a presented certificate chain match usable TLSA records (RFC 7672 §3.1, RFC 7671 §5)?
import type { X509Certificate } from 'node:crypto';
import { certificateNames, matchingName } from './cert-identity.js';
import { type TlsaRecord, tlsaMatches, Usage } from './tlsa.js';

export type DaneResult =
  | { readonly ok: true; readonly usage: 2 | 3; readonly depth: number; readonly record: TlsaRecord }
  | {
      readonly ok: false;
      readonly reason: string;
      /** The RFC 8460 §4.3 result type, for reports. */
      readonly failure: 'validation-failure' | 'certificate-host-mismatch' | 'certificate-expired';
    };

/**
 * Checks `chain` (leaf first) against the usable records:
 * - DANE-EE(3) matches the leaf, and that is all: no name check and no expiry check, RFC 7672 §3.1.1 (the
 *   DNSSEC-signed record binds the key to the host).
 * - DANE-TA(2) matches a certificate of the chain; every certificate below it must be issued and signed by the
 *   next one up, be within its validity period, and the leaf must be valid for one of `names` (the MX host name,
 *   RFC 7672 §3.2.2). A record matching the leaf itself makes the leaf its own trust anchor (RFC 7671 §5.2).
 */
export function verifyDane(records: readonly TlsaRecord[], chain: readonly X509Certificate[], names: readonly string[], now: Date): DaneResult {
  const leaf = chain[0];
  if (leaf === undefined) return { ok: false, reason: 'the server presented no certificate', failure: 'validation-failure' };
  const ee = records.find((r) => r.usage === Usage.DANE_EE && tlsaMatches(r, leaf));
  if (ee !== undefined) return { ok: true, usage: 3, depth: 0, record: ee };
  let taProblem: Extract<DaneResult, { ok: false }> | null = null;
  for (const [depth, cert] of chain.entries()) {
    const ta = records.find((r) => r.usage === Usage.DANE_TA && tlsaMatches(r, cert));
    if (ta === undefined) continue;
    const problem = pathProblem(chain, depth, names, now);
    if (problem === null) return { ok: true, usage: 2, depth, record: ta };
    taProblem ??= problem;
  }
  if (taProblem !== null) return taProblem;
  const usages = [...new Set(records.map((r) => r.usage))].sort().join(', ');
  return { ok: false, reason: `no TLSA record (usage ${usages}) matches the certificate chain`, failure: 'validation-failure' };
}

/** Why the path from the leaf up to the trust anchor at `depth` does not hold, or null. */
function pathProblem(chain: readonly X509Certificate[], depth: number, names: readonly string[], now: Date): Extract<DaneResult, { ok: false }> | null {
  for (let i = 0; i < depth; i++) {
    const cert = chain[i] as X509Certificate;
    const issuer = chain[i + 1] as X509Certificate;
    if (!cert.checkIssued(issuer) || !cert.verify(issuer.publicKey)) {
      return { ok: false, reason: `certificate ${i} of the chain is not signed by certificate ${i + 1}, below the DANE-TA trust anchor`, failure: 'validation-failure' };
    }
  }
  for (let i = 0; i <= Math.max(0, depth - 1); i++) {
    const cert = chain[i] as X509Certificate;
    if (now < new Date(cert.validFrom) || now > new Date(cert.validTo)) {
      return { ok: false, reason: `certificate ${i} of the chain is outside its validity period (${cert.validFrom} to ${cert.validTo})`, failure: 'certificate-expired' };
    }
  }
  const leaf = chain[0] as X509Certificate;
  if (matchingName(leaf, names) === null) {
    return { ok: false, reason: `the certificate is for ${certificateNames(leaf).join(', ') || 'no name'}, not ${names.join(' or ')}`, failure: 'certificate-host-mismatch' };
  }
  return null;
}
