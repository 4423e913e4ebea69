// LMTP replies as facteur passes them on: per recipient to the SMTP client, and which one speaks for all of them.
import { isPositive, isTransient, reply, type Reply } from '../mail/reply.js';
import { isClientError, RemoteReplyError } from '../smtp/client/client-errors.js';
import { replies } from '../smtp/replies.js';

/**
 * An LMTP server's refusal, as our reply to the SMTP client: its code, enhanced code and text (Dovecot's words say
 * what happened: "Quota exceeded", "User doesn't exist"). An enhanced code the server left out is "X.0.0" of its
 * class (RFC 3463 §3.1). A 421 (the server closing) is ours to say differently: it would close our client's session.
 */
export function passOn(r: Reply): Reply {
  if (r.code === 421) return replies.storeUnavailable();
  if (r.code < 400 || r.code > 599) return replies.localError();
  const enhanced = r.enhanced ?? `${Math.floor(r.code / 100)}.0.0`;
  return reply(r.code, enhanced, r.lines.map((l) => l.trim()));
}

/**
 * The reply for a message no recipient took: a transient one when any failure was transient (a retry may still
 * deliver to that recipient, where a 5xx would bounce it for good), else the first permanent one.
 */
export function worstReply(failures: readonly Reply[]): Reply {
  return failures.find((r) => isTransient(r)) ?? failures.find((r) => !isPositive(r)) ?? replies.localError();
}

/** A client error (connection refused or lost, timeout, a broken reply) is the store being unavailable. */
export function unavailable(err: unknown): Reply | null {
  if (err instanceof RemoteReplyError) return passOn(err.reply);
  return isClientError(err) ? replies.storeUnavailable() : null;
}
