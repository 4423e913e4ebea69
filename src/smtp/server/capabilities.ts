// The EHLO keywords we advertise (RFC 5321 §4.1.1.1), from the server's settings and the session's state.
import type { ServerContext } from './server-context.js';
import type { Session } from './session.js';

export function capabilities(ctx: ServerContext, session: Session): string[] {
  const keywords = [
    'PIPELINING', // RFC 2920
    `SIZE ${ctx.limits.maxMessageSize}`, // RFC 1870
    '8BITMIME', // RFC 6152
    'ENHANCEDSTATUSCODES', // RFC 2034
    'SMTPUTF8', // RFC 6531
  ];
  // STARTTLS only in plain text and only when we have a certificate (RFC 3207 §4.2: not again once in TLS).
  if (session.tls === null && ctx.tls !== null) keywords.push('STARTTLS');
  // AUTH only once encrypted, so that no client is invited to send a password in clear (RFC 4954 §4, RFC 8314 §3).
  if (session.tls !== null && ctx.auth !== undefined) keywords.push(`AUTH ${ctx.auth.mechanisms.join(' ')}`);
  keywords.push('HELP');
  return keywords;
}
