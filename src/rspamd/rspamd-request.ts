// What facteur tells rspamd besides the message: the envelope and the connection, as rspamd's request headers
// (rspamd's protocol: From, Rcpt, IP, Helo, Queue-Id, User, TLS-Cipher, TLS-Version, MTA-Name).
import type { OutgoingHttpHeaders } from 'node:http';
import type { Envelope, SessionInfo } from '../delivery.js';
import { formatAddress } from '../mail/address.js';

/** The session, with the authenticated user once SMTP AUTH sets one (absent before that exists). */
export type CheckedSession = SessionInfo & { readonly user?: string | null };

/**
 * The request headers for one message. Values go out as UTF-8 bytes (an SMTPUTF8 address is not Latin-1), and
 * nothing from the client can add a header: addresses and HELO names never hold CR or LF (the parsers refuse them).
 */
export function rspamdHeaders(envelope: Envelope, session: CheckedSession, mtaName: string): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {
    'User-Agent': 'facteur',
    'MTA-Name': mtaName,
    'Queue-Id': session.id,
    IP: session.remoteAddress,
    // The null reverse-path (a bounce) is said as "<>", as MTAs write it in logs and rspamd's rules expect.
    From: utf8(envelope.reversePath === null ? '<>' : formatAddress(envelope.reversePath)),
    Rcpt: envelope.recipients.map((r) => utf8(formatAddress(r))),
  };
  if (session.heloName !== null) headers.Helo = utf8(session.heloName);
  // No Hostname: facteur does no reverse DNS, and without the header rspamd looks the PTR up itself, where
  // "Hostname: unknown" would tell it the client has none (RDNS_NONE) when we simply did not ask.
  if (session.user != null) headers.User = utf8(session.user);
  if (session.tls !== null) {
    headers['TLS-Cipher'] = session.tls.cipher;
    headers['TLS-Version'] = session.tls.protocol;
  }
  return headers;
}

/** Node writes header strings as Latin-1: a UTF-8 value is passed as its bytes, one character each. */
const utf8 = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');

/**
 * A chunk of the message with CRLF line endings, as rspamd expects a message on the wire (the check gets the
 * stored form, LF only; there is no CR in it, since a bare CR refuses the message before it is stored).
 */
export function toCrlf(chunk: Buffer): Buffer {
  let count = 0;
  for (let i = chunk.indexOf(0x0a); i !== -1; i = chunk.indexOf(0x0a, i + 1)) count++;
  if (count === 0) return chunk;
  const out = Buffer.allocUnsafe(chunk.length + count);
  let from = 0;
  let to = 0;
  for (let i = chunk.indexOf(0x0a); i !== -1; i = chunk.indexOf(0x0a, i + 1)) {
    to += chunk.copy(out, to, from, i);
    out[to++] = 0x0d;
    out[to++] = 0x0a;
    from = i + 1;
  }
  chunk.copy(out, to, from);
  return out;
}
