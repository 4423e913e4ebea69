// What the queue asks of a delivery attempt, and what it gets back: the Courier interface and its request and result.
import type { Address } from '../mail/address.js';
import type { TlsVerdict } from './tls-policy/tls-check.js';

/** A stored message as a courier reads it: a Buffer kept from its arrival, or chunks read from its file. */
export type MessageBody = Iterable<Buffer> | AsyncIterable<Buffer>;

/** One attempt for the recipients of one domain of one queued message. */
export interface TransferRequest {
  /** Queue id, for logs. */
  readonly id: string;
  /** Recipient domain, lower-cased (all recipients share it). */
  readonly domain: string;
  readonly reversePath: Address | null;
  readonly recipients: readonly Address[];
  /** Opens the stored message: lines end in LF, not dot-stuffed; each call reads it again from its start. */
  readonly openBody: () => MessageBody;
  /** Size in bytes of the stored message (for SIZE=). */
  readonly size: number;
  readonly eightBit: boolean;
  readonly smtputf8: boolean;
}

/** sent: done; transient: try again later; permanent: bounce. */
export type RecipientStatus = 'sent' | 'transient' | 'permanent';

export interface RecipientOutcome {
  readonly recipient: Address;
  readonly status: RecipientStatus;
  /** The remote reply or our own diagnosis, one line: "550 5.1.1 No such user" / "connection refused by mx1 [192.0.2.1]". */
  readonly diagnostic: string;
  /** Host name of the MX that gave the outcome, null if none was reached. */
  readonly remoteMta: string | null;
}

export interface TransferResult {
  /** One per recipient of the request, in its order. */
  readonly outcomes: readonly RecipientOutcome[];
  /** The host that took the message, if any. */
  readonly relay: { readonly host: string; readonly ip: string; readonly tls: string | null } | null;
  /**
   * What the TLS policy made of the session that took the message; when none did, of the last host judged (why it
   * was refused, say). Absent or null when no TLS policy applied (local delivery, no host reached).
   */
  readonly verdict?: TlsVerdict | null;
}

/**
 * Takes one message to its recipients of one domain, as chasquid's couriers do: SmtpCourier to remote MX hosts,
 * LocalCourier into our own Maildirs. deliver() never rejects: every failure, even a local one, is an outcome
 * (transient unless the failure is known to be final), so that the queue alone decides about retries and bounces.
 */
export interface Courier {
  deliver(req: TransferRequest): Promise<TransferResult>;
}
