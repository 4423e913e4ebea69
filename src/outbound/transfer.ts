// STUB: contract only. One delivery attempt of one message to one recipient domain.
import type { Readable } from 'node:stream';
import type { Address } from '../smtp/address.js';

export interface TransferRequest {
  /** Queue id, for logs. */
  readonly id: string;
  /** Recipient domain, lower-cased (all recipients share it). */
  readonly domain: string;
  readonly reversePath: Address | null;
  readonly recipients: readonly Address[];
  /** Opens the stored message: lines end in LF, not dot-stuffed (transfer converts to CRLF and stuffs). */
  readonly openBody: () => Readable;
  /** Size in bytes of the stored body (for SIZE=). */
  readonly size: number;
  readonly eightBit: boolean;
  readonly smtputf8: boolean;
}

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
  readonly outcomes: readonly RecipientOutcome[];
  /** The host that took the transaction, if any. */
  readonly relay: { readonly host: string; readonly ip: string; readonly tls: string | null } | null;
}
