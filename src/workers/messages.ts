// The messages between the `facteur start` process (the primary) and its workers, over the IPC channel node:cluster opens.
import type { Address } from '../mail/address.js';
import type { SessionInfo } from '../delivery.js';
import type { QueueItem } from '../outbound/queue-item.js';

/** Questions a worker asks the primary, which holds the state that must be one per server, not one per worker. */
export type PrimaryCall =
  | { readonly method: 'client-limit'; readonly what: 'message' | 'recipient'; readonly ip: string }
  | { readonly method: 'greylist'; readonly session: SessionInfo; readonly reversePath: Address | null; readonly recipient: Address };

/** Primary → worker. A 'connection' travels with the socket as its handle. */
export type ToWorker =
  | { readonly t: 'connection'; readonly key: string; readonly token: number }
  | { readonly t: 'stop' }
  | { readonly t: 'reload' }
  | { readonly t: 'reopen-log' }
  | { readonly t: 'metrics'; readonly id: number }
  | { readonly t: 'answer'; readonly id: number; readonly value: unknown; readonly error?: string };

/** Worker → primary. */
export type FromWorker =
  | { readonly t: 'ready' }
  | { readonly t: 'closed'; readonly token: number }
  /** A message committed to the queue folder (its 250 is on its way): the primary's queue sends it. */
  | { readonly t: 'queued'; readonly item: QueueItem }
  | { readonly t: 'reloaded' }
  | { readonly t: 'call'; readonly id: number; readonly call: PrimaryCall }
  | { readonly t: 'metrics'; readonly id: number; readonly value: unknown };

/** Messages of node:cluster's own protocol share the channel; ours all have a string `t`. */
export function isOurs<T extends { t: string }>(message: unknown): message is T {
  return typeof message === 'object' && message !== null && typeof (message as { t?: unknown }).t === 'string';
}
