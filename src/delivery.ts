// The seam between the shared SMTP server and a server's final step (Maildir for inbound, the queue for outbound).
// A delivery is open → write* → commit | abort, as maddy's delivery targets; commit resolves only once durable.
import type { Address } from './smtp/address.js';
import type { Reply } from './smtp/reply.js';

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

export interface Delivery {
  /**
   * Accepts or refuses the reverse-path at MAIL time (null for <>); throws SmtpError to refuse (530 5.7.0 before a
   * login, 553 5.7.1 for someone else's address, …). Optional: without it every sender is accepted.
   */
  acceptSender?(from: Address | null, session: SessionInfo): Promise<void>;
  /** Accepts or refuses one recipient at RCPT time; throws SmtpError to refuse (550 5.1.1, 550 5.7.1, …). */
  acceptRecipient(to: Address, session: SessionInfo): Promise<void>;
  /** Starts storing a message for the envelope; the first chunk written is the Received header. */
  open(envelope: Envelope, session: SessionInfo): Promise<MessageSink>;
}

/**
 * Message data flows in as un-stuffed chunks whose lines end in LF (CRLF already folded).
 * commit() resolves with the final 250 once every copy is flushed to disk (file and directory),
 * or throws SmtpError (451 4.3.0 on storage faults). abort() removes whatever was written.
 */
export interface MessageSink {
  write(chunk: Buffer): Promise<void>;
  commit(): Promise<Reply>;
  abort(): Promise<void>;
}
