// The seam between the shared SMTP server (src/smtp/server) and each server's last step: Maildir for inbound
// (inbound/inbound-delivery.ts), the queue for outbound (outbound/outbound-delivery.ts). As maddy's delivery targets:
// acceptRecipient at each RCPT, then at DATA open → write* → commit | abort.
//
// What the core guarantees:
//  - the recipients of open() are the very Address objects given to acceptRecipient (one per distinct address, the
//    first given), so a delivery may keep what it decided at RCPT in a WeakMap keyed on them;
//  - the first chunk written is the core's Received header (RFC 5321 §4.4); the rest is the message text as it
//    arrived: dot-unstuffed, lines ending in LF, never a bare CR or LF (such a message is refused before);
//  - the text is read to its final dot whatever write() does; commit() comes only after the whole text, within the
//    size and hop limits; otherwise, and after a failed open() or commit(), abort() is called;
//  - the reply to DATA is what commit() returns; an SmtpError thrown by any method is sent as its reply; any other
//    error is logged and answered 451 4.3.0.
// What a delivery must do:
//  - refuse a recipient by throwing SmtpError (550 5.1.1, 550 5.7.1, ...);
//  - keep an I/O error of write() and throw it from commit() as SmtpError 451 4.3.0, rather than throw it at once;
//  - resolve commit() only once the message is durable, file and folder flushed: a 250 promises the message;
//  - make abort() remove whatever was written, safe at any time and any number of times, a no-op after a commit;
//  - add the trace header of the final delivery itself: Return-Path, before everything (RFC 5321 §4.4), as the
//    Maildir delivery does; the relay adds none (the next hop does).
import type { Address } from './mail/address.js';
import type { Reply } from './mail/reply.js';

/** The user a session authenticated as (SMTP AUTH, RFC 4954). */
export interface AuthenticatedUser {
  /** The address the client logged in with, as it appears in the passwords file. */
  readonly login: string;
  /** The mailbox that address belongs to: its addresses are the ones this user may send as. */
  readonly mailbox: string;
}

/** What a delivery may know about the connection. */
export interface SessionInfo {
  readonly id: string;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  /** The name given in HELO/EHLO, null before it. */
  readonly heloName: string | null;
  readonly esmtp: boolean;
  /** Negotiated TLS, null in plain text. */
  readonly tls: { readonly protocol: string; readonly cipher: string } | null;
  /** The authenticated user; null or absent when the client did not log in. */
  readonly auth?: AuthenticatedUser | null;
}

/** The envelope of the transaction being delivered. */
export interface Envelope {
  /** null for the null reverse-path <>. */
  readonly reversePath: Address | null;
  readonly recipients: readonly Address[];
  /** BODY=8BITMIME was given. */
  readonly eightBit: boolean;
  /** SMTPUTF8 was given. */
  readonly smtputf8: boolean;
  /** SIZE= declared by the client, if any. */
  readonly declaredSize: number | null;
}

/**
 * What RCPT knows of its transaction (MAIL's reverse-path and SIZE). The same object for every RCPT of one
 * transaction: a delivery may key what it opened at the first RCPT on it (an LMTP session, say).
 */
export interface TransactionInfo {
  readonly reversePath: Address | null;
  /** SIZE= declared at MAIL (RFC 1870), or null. */
  readonly declaredSize: number | null;
}

export interface Delivery {
  /**
   * Accepts or refuses the reverse-path at MAIL time (null for <>); throws SmtpError to refuse (530 5.7.0 before a
   * login, 553 5.7.1 for someone else's address, …). Optional: without it every sender is accepted.
   */
  acceptSender?(from: Address | null, session: SessionInfo): Promise<void>;
  /**
   * Accepts or refuses one recipient at RCPT time; throws SmtpError to refuse (550 5.1.1, 550 5.7.1, 552 5.2.2…).
   * `transaction` is given by the SMTP core (absent when a delivery is called from elsewhere).
   */
  acceptRecipient(to: Address, session: SessionInfo, transaction?: TransactionInfo): Promise<void>;
  /** Starts storing a message for the envelope; throws SmtpError when it cannot (451 4.3.0 for storage). */
  open(envelope: Envelope, session: SessionInfo): Promise<MessageSink>;
}

/** One message on its way to its last step: see the contract above. */
export interface MessageSink {
  write(chunk: Buffer): Promise<void>;
  commit(): Promise<Reply>;
  abort(): Promise<void>;
  /**
   * Optional, for a caller that must commit this message together with another (the MX's Maildir copies and their
   * forwarded copy, README "Addresses"): makes the message durable as commit() does, without letting it go on yet;
   * release() then does (it cannot fail), discard() removes it. Throws as commit() does.
   */
  prepare?(): Promise<PreparedMessage>;
}

/** A message made durable by MessageSink.prepare, waiting for release() or discard(). */
export interface PreparedMessage {
  /** What commit() would have answered. */
  readonly reply: Reply;
  release(): void;
  discard(): Promise<void>;
}
