// How one process takes part in a server run by several (startApp's `cluster` dependency): the primary accepts
// and keeps the state that is one per server; a worker serves the sessions it is handed.
import type { Socket } from 'node:net';
import type { RecipientPolicy } from '../smtp/server/server-context.js';
import type { ClientLimiter, ClientLimitSettings } from '../smtp/server/client-limits.js';
import type { ConnectionSource } from '../smtp/server/listener.js';
import type { QueueItem } from '../outbound/queue-item.js';

export interface PrimaryPart {
  readonly role: 'primary';
  /** Each admitted connection goes to a worker (WorkerPool.handOff). */
  readonly handOff: (socket: Socket, key: string, release: () => void) => void;
  /** The workers' metrics, added to the primary's at each scrape. */
  readonly workerMetrics: () => Promise<unknown[]>;
}

export interface WorkerPart {
  readonly role: 'worker';
  /** The connections the primary hands over for a listener (WorkerLink.takeOver). */
  readonly takeOver: (key: string) => ConnectionSource;
  /** The per-client limits, counted by the primary. */
  readonly clientLimits: (settings: ClientLimitSettings) => ClientLimiter;
  /** Greylisting, decided by the primary. */
  readonly greylist: RecipientPolicy;
  /** A message committed to the queue folder, for the primary's queue to send. */
  readonly enqueue: (item: QueueItem) => void;
}

export type ClusterPart = PrimaryPart | WorkerPart;
