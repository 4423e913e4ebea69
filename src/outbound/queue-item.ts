// A queued message in memory: its envelope, each recipient's delivery state, and the pure state transitions.
// (On disk the same item is written by queue-file.ts, with its own field names.)
import type { Address } from '../mail/address.js';
import type { RecipientOutcome } from './courier.js';

/** pending: never tried; deferred: waiting for a retry; sent and failed are final, kept until the whole item is done. */
export type RecipientState = 'pending' | 'deferred' | 'sent' | 'failed';

export interface QueueRecipient {
  /** As given in RCPT TO, formatted ("local@domain"). */
  readonly address: string;
  /** The local part as received, for the remote RCPT TO. */
  readonly local: string;
  /** The domain, lower-cased: recipients are grouped by it, one attempt per domain. */
  readonly domain: string;
  readonly status: RecipientState;
  readonly attempts: number;
  /** ISO 8601 UTC; null while pending (due at once) and once final. */
  readonly nextAttempt: string | null;
  /** What an operator reads in `queue list`: the last diagnostic, or why it failed. */
  readonly lastError: string | null;
  /** The last outcome's diagnostic as the courier gave it (the remote reply), for the bounce's Diagnostic-Code. */
  readonly diagnostic: string | null;
  readonly remoteMta: string | null;
  readonly lastAttempt: string | null;
  /** RFC 3464 Status of a failed recipient (5.x.x, or 4.4.7 when its time ran out). */
  readonly dsnStatus: string | null;
  /** A failed recipient already reported to the sender (bounced as soon as it failed, before the rest was final). */
  readonly bounced?: boolean;
}

export interface QueueItem {
  /** [A-Za-z0-9] only, time-ordered, made by the store (never from client input): the name of its files. */
  readonly id: string;
  /** The reverse-path formatted, "" for the null sender <>. */
  readonly from: string;
  readonly reversePath: Address | null;
  /** Arrival time, ISO 8601 UTC. */
  readonly created: string;
  /** Bytes of the message (after the envelope line of <id>.msg; the whole <id>.eml of a 0.1 queue). */
  readonly size: number;
  readonly eightBit: boolean;
  readonly smtputf8: boolean;
  readonly recipients: readonly QueueRecipient[];
}

/** One row of `queue list --json` (its field names are part of the command's contract): recipients still to deliver. */
export interface QueueEntry {
  readonly id: string;
  readonly from: string;
  readonly created: string;
  readonly size: number;
  readonly recipients: readonly {
    readonly address: string;
    readonly status: 'pending' | 'deferred';
    readonly attempts: number;
    readonly next_attempt: string | null;
    readonly last_error: string | null;
  }[];
}

/** A fresh recipient, never tried. */
export function newRecipient(address: string, to: Address): QueueRecipient {
  return {
    address,
    local: to.local,
    domain: to.domain.toLowerCase(),
    status: 'pending',
    attempts: 0,
    nextAttempt: null,
    lastError: null,
    diagnostic: null,
    remoteMta: null,
    lastAttempt: null,
    dsnStatus: null,
  };
}

export const isActive = (r: QueueRecipient): boolean => r.status === 'pending' || r.status === 'deferred';
/** Every recipient sent or failed: the item can leave the queue (after its bounce, if any). */
export const isFinished = (item: QueueItem): boolean => !item.recipients.some(isActive);

/** When a still active recipient is due, in ms since the epoch (a pending one is due at once). */
export const dueTime = (r: QueueRecipient): number => (r.nextAttempt === null ? 0 : Date.parse(r.nextAttempt));

/** The earliest due time among the active recipients of `domain`, or null when none is left. */
export function domainDueTime(item: QueueItem, domain: string): number | null {
  let due: number | null = null;
  for (const r of item.recipients) {
    if (r.domain !== domain || !isActive(r)) continue;
    const t = dueTime(r);
    if (due === null || t < due) due = t;
  }
  return due;
}

/** The recipient domains, each once, in the order of the envelope. */
export const domainsOf = (item: QueueItem): string[] => [...new Set(item.recipients.map((r) => r.domain))];

export interface RetryPolicy {
  readonly queueLifetime: number;
  /** The delay before the next try, given the attempts made so far (backoff.ts). */
  readonly delay: (attempts: number) => number;
}

const ENHANCED = /^\d{3}[ -]([245])\.(\d{1,3})\.(\d{1,3})(?:\s|$)/;

/** RFC 3464 §2.3.4 Status of a failed recipient: the remote reply's enhanced code when it is a 5.x.x one, else 5.0.0. */
export function failureStatus(diagnostic: string): string {
  const m = ENHANCED.exec(diagnostic);
  return m !== null && m[1] === '5' ? `5.${m[2]}.${m[3]}` : '5.0.0';
}

/**
 * The state of one recipient after an outcome. A transient failure is retried with backoff,
 * unless the message has been queued for queue_lifetime (or the next try would come after that):
 * then it fails with 4.4.7, "delivery time expired" (RFC 3463).
 */
export function afterOutcome(r: QueueRecipient, outcome: RecipientOutcome, createdMs: number, now: number, policy: RetryPolicy): QueueRecipient {
  const attempts = r.attempts + 1;
  const common = { attempts, diagnostic: outcome.diagnostic, remoteMta: outcome.remoteMta, lastAttempt: new Date(now).toISOString() };
  switch (outcome.status) {
    case 'sent':
      return { ...r, ...common, status: 'sent', nextAttempt: null, lastError: null };
    case 'permanent':
      return { ...r, ...common, status: 'failed', nextAttempt: null, lastError: outcome.diagnostic, dsnStatus: failureStatus(outcome.diagnostic) };
    case 'transient': {
      const next = now + policy.delay(attempts);
      if (now - createdMs >= policy.queueLifetime || next - createdMs > policy.queueLifetime) {
        return { ...r, ...common, status: 'failed', nextAttempt: null, lastError: `delivery time expired: ${outcome.diagnostic}`, dsnStatus: '4.4.7' };
      }
      return { ...r, ...common, status: 'deferred', nextAttempt: new Date(next).toISOString(), lastError: outcome.diagnostic };
    }
  }
}

/** Oldest first: ids sort by arrival (queue-store.ts newId). */
export const byId = (a: { readonly id: string }, b: { readonly id: string }): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** A comparable key for matching an outcome to our recipient (the domain's case does not matter). */
export const recipientKey = (a: { local: string; domain: string }): string => `${a.local}\u0000${a.domain.toLowerCase()}`;

/** The item for `queue list`: only recipients still to deliver; one being tried shows as pending. */
export function toQueueEntry(item: QueueItem, beingTried: (r: QueueRecipient) => boolean = () => false): QueueEntry {
  return {
    id: item.id,
    from: item.from,
    created: item.created,
    size: item.size,
    recipients: item.recipients.filter(isActive).map((r) => ({
      address: r.address,
      status: r.status === 'deferred' && !beingTried(r) ? 'deferred' : 'pending',
      attempts: r.attempts,
      next_attempt: r.nextAttempt,
      last_error: r.lastError,
    })),
  };
}
