// The local store seam: where mail for a local mailbox ends up, Maildirs written here (maildir-store.ts) or an LMTP
// server such as Dovecot (lmtp-store.ts). The MX's sessions and the relay's local courier both go through it.
import type { Address } from '../mail/address.js';
import type { Reply } from '../mail/reply.js';

/** One mailbox a message goes to, with the address the client gave for it (the first one, when several map there). */
export interface StoreTarget {
  readonly mailbox: string;
  readonly address: Address;
}

/**
 * What a store may know of the transaction at RCPT time. The same object for every RCPT of one transaction (the
 * store may key state on it, e.g. the LMTP session opened at the first RCPT).
 */
export interface StoreTransaction {
  readonly reversePath: Address | null;
  /** SIZE= of MAIL (RFC 1870), or null. */
  readonly declaredSize: number | null;
}

/** What each log line of one message carries: the session id (MX) or the queue id (relay). */
export type StoreLog = Readonly<Record<string, string>>;

export interface StoreOpenOptions {
  /** The transaction checked at RCPT, when there was one (the MX); the relay's deliveries have none. */
  readonly transaction?: StoreTransaction;
  /** commit() may bring a prefix (header fields known only at the end): the store must not send the text before. */
  readonly lateHeaders?: boolean;
  /** The caller can requeue recipients that fail after the data (outcome.replay is then given for partial failures). */
  readonly replayable?: boolean;
}

/** A copy the store took: a Maildir file, or a recipient the LMTP server said 250 for. */
export interface StoredCopy {
  readonly mailbox: string;
  /** The Maildir++ subfolder, or null for the inbox (or when the store chose: LMTP). */
  readonly folder: string | null;
  /** What identifies the copy in the log: the Maildir file name, or the LMTP server's reply. */
  readonly id: string;
  readonly size: number;
}

export interface StoreOutcome {
  /** Never empty: when nothing was stored, commit() throws. */
  readonly stored: readonly StoredCopy[];
  /** The targets the store refused after the data, each with its reply (4xx or 5xx). */
  readonly failed: readonly { readonly target: StoreTarget; readonly reply: Reply }[];
  /** The message as stored, when failed is not empty and the caller asked for it (replayable): to requeue them. */
  readonly replay?: () => AsyncIterable<Buffer>;
}

export interface StoreMessage {
  /** Message text (LF lines, Return-Path excluded: the store adds it). An I/O error is remembered and thrown by commit(). */
  write(chunk: Buffer): Promise<void>;
  /**
   * Stores the message; resolves once every stored copy is durable (Maildir: file and folder flushed; LMTP: the
   * server's 250). Throws SmtpError when no copy was stored (the worst reply). `prefix` goes before the text;
   * `folder` ("Junk") is a Maildir++ subfolder where the store can choose one.
   */
  commit(opts?: { prefix?: Buffer; folder?: string }): Promise<StoreOutcome>;
  /** Drops what is not stored, and any spool; safe at any time, any number of times, also after commit. */
  abort(): Promise<void>;
}

export interface LocalStore {
  /** Called at each RCPT for an accepted mailbox: a quota or the LMTP server may refuse it (throws SmtpError). */
  checkRecipient(target: StoreTarget, transaction: StoreTransaction): Promise<void>;
  /** Starts a message for these targets (distinct mailboxes); throws SmtpError (451 4.3.0) when it cannot. */
  open(reversePath: Address | null, targets: readonly StoreTarget[], log: StoreLog, opts?: StoreOpenOptions): Promise<StoreMessage>;
  /** Refuses new messages and waits for what is in flight. */
  close(): Promise<void>;
}
