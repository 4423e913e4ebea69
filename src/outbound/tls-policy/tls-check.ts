// Judges a finished STARTTLS attempt against the host's policy: verified or not, why, and whether delivery may go on.
import type { X509Certificate } from 'node:crypto';
import { certificateNames, matchingName } from './cert-identity.js';
import { verifyDane } from './dane-verify.js';
import type { HostTlsPolicy, TlsPolicyName } from './host-policy.js';

/** RFC 8460 §4.3 result types: the words TLS reports use, and our log lines too. */
export type TlsFailure =
  | 'starttls-not-supported'
  | 'certificate-host-mismatch'
  | 'certificate-expired'
  | 'certificate-not-trusted'
  | 'validation-failure'
  | 'tlsa-invalid'
  | 'dnssec-invalid'
  | 'sts-mx-mismatch';

/** What the STARTTLS step gave. */
export type TlsOutcome =
  /** The server did not offer STARTTLS, or refused it: `detail` says which (its reply). */
  | { readonly kind: 'no-starttls'; readonly detail: string }
  /** The handshake failed (the connection is gone). */
  | { readonly kind: 'handshake-failed'; readonly detail: string }
  /** A TLS session: the facts the SMTP client's startTls() returns (TlsInfo). */
  | {
      readonly kind: 'tls';
      readonly info: { readonly authorized: boolean; readonly authorizationError: string | null; readonly peerCertificates: readonly X509Certificate[] };
    };

/**
 * What to do next on this host:
 * - `proceed`: go on with the transaction (in TLS, or in plain text where the policy allows it);
 * - `proceed-report`: go on, but the policy would have refused under enforcement (MTA-STS testing): log a warning
 *   (and count it for TLS reports);
 * - `retry-plain`: the handshake failed and the policy allows plain text: reconnect to the same address without TLS;
 * - `next-host`: do not send here; try the next host, and defer the message when none is left (never bounce on it).
 */
export type TlsAction = 'proceed' | 'proceed-report' | 'retry-plain' | 'next-host';

export interface TlsVerdict {
  readonly policy: TlsPolicyName;
  /** The certificate was verified as the policy understands it (PKIX + name, or a DANE match). */
  readonly verified: boolean;
  /** Why not verified, or why the host is refused; null when verified. */
  readonly reason: string | null;
  readonly failure: TlsFailure | null;
  readonly action: TlsAction;
}

/** The verdict for a host the policy rules out before connecting (HostTlsPolicy.skip), or null when it may be tried. */
export function checkBeforeConnect(p: HostTlsPolicy): TlsVerdict | null {
  if (p.skip === null) return null;
  const failure: TlsFailure = p.policy === 'dane' ? 'dnssec-invalid' : 'sts-mx-mismatch';
  return { policy: p.policy, verified: false, reason: p.skip, failure, action: 'next-host' };
}

/** The verdict on what STARTTLS gave with this host, per its policy. `now` is for certificate dates (DANE-TA). */
export function checkTls(p: HostTlsPolicy, outcome: TlsOutcome, now: Date = new Date()): TlsVerdict {
  const verdict = (verified: boolean, reason: string | null, failure: TlsFailure | null, action: TlsAction): TlsVerdict => ({ policy: p.policy, verified, reason, failure, action });
  const testing = p.sts?.mode === 'testing' && p.policy === 'mta-sts';
  if (outcome.kind !== 'tls') {
    const reason = outcome.kind === 'no-starttls' ? `no TLS: ${outcome.detail}` : `TLS handshake failed: ${outcome.detail}`;
    const failure = outcome.kind === 'no-starttls' ? 'starttls-not-supported' : 'validation-failure';
    if (p.requireTls) return verdict(false, reason, failure, 'next-host');
    if (outcome.kind === 'handshake-failed') return verdict(false, reason, failure, 'retry-plain');
    return verdict(false, reason, failure, testing ? 'proceed-report' : 'proceed');
  }
  const { authorized, authorizationError, peerCertificates } = outcome.info;
  let problem: { reason: string; failure: TlsFailure } | null;
  if (p.policy === 'dane' && p.tlsa.length > 0) {
    const dane = verifyDane(p.tlsa, peerCertificates, p.names, now);
    problem = dane.ok ? null : { reason: `DANE: ${dane.reason}`, failure: dane.failure };
  } else if (p.policy === 'dane') {
    // RFC 7672 §3.1.3: records exist but none is usable: encryption is mandatory, authentication is not possible.
    problem = { reason: 'DANE: TLSA records published but none usable; TLS required, certificate not checked', failure: 'tlsa-invalid' };
  } else {
    problem = pkixProblem(authorized, authorizationError, peerCertificates, p.names);
  }
  if (problem === null) return verdict(true, null, null, 'proceed');
  if (p.requireVerified) return verdict(false, problem.reason, problem.failure, 'next-host');
  return verdict(false, problem.reason, problem.failure, testing ? 'proceed-report' : 'proceed');
}

/** RFC 8461 §4.2 / RFC 7672 §3.2.3 for a non-DANE host: a chain to a trusted CA, and the MX host name in the certificate. */
function pkixProblem(authorized: boolean, error: string | null, chain: readonly X509Certificate[], names: readonly string[]): { reason: string; failure: TlsFailure } | null {
  const leaf = chain[0];
  if (leaf === undefined) return { reason: 'the server presented no certificate', failure: 'certificate-not-trusted' };
  if (!authorized) {
    const code = error ?? 'unknown error';
    const expired = /EXPIRED|NOT_YET_VALID/.test(code);
    return { reason: `certificate ${expired ? 'outside its validity period' : 'not trusted'} (${code})`, failure: expired ? 'certificate-expired' : 'certificate-not-trusted' };
  }
  if (names.length === 0) return { reason: 'no host name to check the certificate against (address literal)', failure: 'certificate-host-mismatch' };
  if (matchingName(leaf, names) === null) {
    return { reason: `certificate is for ${certificateNames(leaf).join(', ') || 'no name'}, not ${names.join(' or ')}`, failure: 'certificate-host-mismatch' };
  }
  return null;
}

/** The fields the attempt's log line gains: `tls_policy`, `verified`, and `tls_reason` / `tls_failure` when not verified. */
export function tlsLogFields(v: TlsVerdict): { tls_policy: TlsPolicyName; verified: boolean; tls_reason?: string; tls_failure?: TlsFailure } {
  return {
    tls_policy: v.policy,
    verified: v.verified,
    ...(v.reason !== null ? { tls_reason: v.reason } : {}),
    ...(v.failure !== null ? { tls_failure: v.failure } : {}),
  };
}

/**
 * One line for a host refused by its policy, for the recipient's last error (what `queue list` shows), in the log
 * line's words: the policy, the reason, the RFC 8460 result type. `where` is the host, with its address once dialled:
 * "TLS policy mta-sts refused mx1.example.org [192.0.2.1]:25: certificate not trusted (…) (certificate-not-trusted)".
 * An opportunistic host is only ever refused because outbound.tls = "required" forbids plain text, and it says so.
 */
export function refusalText(where: string, v: TlsVerdict): string {
  const policy = v.policy === 'opportunistic' ? 'opportunistic with tls = "required"' : v.policy;
  return `TLS policy ${policy} refused ${where}: ${v.reason ?? 'not verified'}${v.failure !== null ? ` (${v.failure})` : ''}`;
}
