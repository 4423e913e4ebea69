// STARTTLS on one SMTP session as the TLS policy sees it: what the attempt gave, and whether a cached session will do.
import { replyText } from '../mail/reply.js';
import { ClientTimeoutError, RemoteReplyError, TlsHandshakeError } from '../smtp/client/client-errors.js';
import type { SmtpClient, StartTlsOptions } from '../smtp/client/smtp-client.js';
import type { CachedConnection } from './connection-cache.js';
import type { HostTlsPolicy } from './tls-policy/host-policy.js';
import { checkTls, type TlsOutcome, type TlsVerdict } from './tls-policy/tls-check.js';

/**
 * STARTTLS after EHLO, whatever the policy (RFC 3207: whenever offered), and what came of it for checkTls():
 * not offered or refused (the plain session goes on, RFC 3207 §4), the handshake failed (the connection is gone),
 * or a TLS session with the facts the policy judges. Other errors (a 421, a timeout before the 220, a lost
 * connection) are thrown: the session is over, and that is no TLS outcome.
 */
export async function startTlsOutcome(client: SmtpClient, opts: StartTlsOptions): Promise<TlsOutcome> {
  if (!client.capabilities.starttls) return { kind: 'no-starttls', detail: 'STARTTLS not offered' };
  try {
    return { kind: 'tls', info: await client.startTls(opts) };
  } catch (err) {
    // A 421 closes the session (RFC 5321 §3.8): it is the server going away, not declining TLS.
    if (err instanceof RemoteReplyError && err.stage === 'starttls' && err.reply.code !== 421) {
      return { kind: 'no-starttls', detail: `STARTTLS refused (${replyText(err.reply)})` };
    }
    if (err instanceof TlsHandshakeError) return { kind: 'handshake-failed', detail: err.reason };
    if (err instanceof ClientTimeoutError && err.stage === 'tls-handshake') return { kind: 'handshake-failed', detail: `no answer within ${err.ms} ms` };
    throw err;
  }
}

/**
 * The verdict on a cached session for the host about to be tried, or null when it does not satisfy that host's
 * policy (the caller then opens a fresh connection, which goes through STARTTLS and its check as usual).
 * A TLS session is judged again against the new policy with the certificates it presented: the cache is keyed by
 * address, and the policy (or the name the certificate must carry) may differ from the one it was opened under.
 * A plain-text session is reused only for the same host under the same policy, when that policy allows plain text.
 */
export function verdictForCached(cached: CachedConnection, p: HostTlsPolicy, now: Date = new Date()): TlsVerdict | null {
  const info = cached.client.tls;
  if (info === null) {
    if (p.requireTls || cached.host !== p.host || cached.verdict.policy !== p.policy) return null;
    return cached.verdict;
  }
  const verdict = checkTls(p, { kind: 'tls', info }, now);
  return verdict.action === 'proceed' || verdict.action === 'proceed-report' ? verdict : null;
}
