// The contract between the AUTH command (RFC 4954) and what checks logins: SASL mechanisms as exchanges of steps.
import type { AuthenticatedUser, SessionInfo } from '../../delivery.js';
import type { Reply } from '../../mail/reply.js';

/** A logged-in user, as the session keeps it. */
export interface AuthIdentity extends AuthenticatedUser {
  /** What the Received header says about the user (RFC 3848 asks only for "ESMTPSA"); null to say nothing. */
  readonly receivedAs: string | null;
}

/** The exchange ends without a login: the reply to send, and whether to hang up after it. */
export interface SaslFailure {
  readonly kind: 'failure';
  readonly reply: Reply;
  readonly close?: boolean;
}

/** One step of an exchange: a challenge to send (334) before the client's next response, or its end. */
export type SaslStep =
  | { readonly kind: 'challenge'; readonly data: Buffer }
  | { readonly kind: 'success'; readonly identity: AuthIdentity }
  | SaslFailure;

/** One SASL exchange (RFC 4422) of one mechanism. */
export interface SaslExchange {
  /**
   * The client's next response, base64-decoded; null only for the first call when the AUTH command carried no
   * initial response (RFC 4954 §4).
   */
  next(response: Buffer | null): Promise<SaslStep>;
}

export interface AuthService {
  /** The mechanisms advertised after "AUTH" in the EHLO reply (only under TLS). */
  readonly mechanisms: readonly string[];
  /** Starts an exchange, or refuses at once: 504 for an unknown mechanism, 421 (and close) for a banned address. */
  start(mechanism: string, session: SessionInfo): SaslExchange | SaslFailure;
}
