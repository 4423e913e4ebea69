// A queued message's envelope and per-recipient delivery state (the <id>.json file), and its pure state transitions.
import { z } from 'zod';
import type { Address } from '../smtp/address.js';
import type { RecipientOutcome } from './courier.js';

/** pending: never tried; deferred: waiting for a retry; sent and failed are final, kept until the whole item is done. */
export type RecipientState = 'pending' | 'deferred' | 'sent' | 'failed';

export interface QueueRecipient {
  /** As given in RCPT TO, formatted ("local@domain"). */
  readonly address: string;
  /** The local part as received, for the remote RCPT TO. */
  readonly local: string;
  /** The domain, lower-cased: recipients are grouped by it, one transfer per domain. */
  readonly domain: string;
  readonly status: RecipientState;
  readonly attempts: number;
  /** ISO 8601 UTC; null while pending (due at once) and once final. */
  readonly next_attempt: string | null;
  /** What an operator reads in `queue list`: the last diagnostic, or why it failed. */
  readonly last_error: string | null;
  /** The last outcome's diagnostic as given by the transfer (the remote reply), for the bounce's Diagnostic-Code. */
  readonly diagnostic: string | null;
  readonly remote_mta: string | null;
  readonly last_attempt: string | null;
  /** RFC 3464 Status of a failed recipient (5.x.x, or 4.4.7 when its time ran out). */
  readonly dsn_status: string | null;
  /** A failed recipient already reported to the sender (bounced as soon as it failed, before the rest was final). */
  readonly bounced?: boolean;
}

export interface QueueItem {
  /** [A-Za-z0-9] only, time-ordered, made by us (never from client input). */
  readonly id: string;
  /** The reverse-path formatted, "" for the null sender <>. */
  readonly from: string;
  readonly reverse_path: Address | null;
  /** Arrival time, ISO 8601 UTC. */
  readonly created: string;
  /** Bytes of the message (after the envelope line of <id>.msg; the whole <id>.eml of a 0.1 queue). */
  readonly size: number;
  readonly eightBit: boolean;
  readonly smtputf8: boolean;
  readonly recipients: readonly QueueRecipient[];
}

/** One row of `queue list --json` (INTERFACE.md): only recipients still to deliver are listed. */
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

const ID_PATTERN = /^[A-Za-z0-9]{1,64}$/;
/** Ids become file names: anything but [A-Za-z0-9] (a "../" from a command line, say) is refused. */
export const isValidQueueId = (id: string): boolean => ID_PATTERN.test(id);

const isoDate = z.iso.datetime();
const recipientSchema = z.object({
  address: z.string().min(1),
  local: z.string(),
  domain: z.string().min(1),
  status: z.enum(['pending', 'deferred', 'sent', 'failed']),
  attempts: z.number().int().nonnegative(),
  next_attempt: isoDate.nullable(),
  last_error: z.string().nullable(),
  diagnostic: z.string().nullable(),
  remote_mta: z.string().nullable(),
  last_attempt: isoDate.nullable(),
  dsn_status: z.string().nullable(),
  bounced: z.boolean().optional(),
});
const itemSchema = z.object({
  id: z.string().regex(ID_PATTERN),
  from: z.string(),
  reverse_path: z.object({ local: z.string(), domain: z.string() }).nullable(),
  created: isoDate,
  size: z.number().int().nonnegative(),
  eightBit: z.boolean(),
  smtputf8: z.boolean(),
  recipients: z.array(recipientSchema).min(1),
});

/** Reads a .json file's text; throws (with a readable message) if it is not a well-formed queue item. */
export function parseQueueItem(text: string): QueueItem {
  const result = itemSchema.safeParse(JSON.parse(text));
  if (!result.success) throw new Error(`not a queue item: ${z.prettifyError(result.error)}`);
  return result.data;
}

export const serializeQueueItem = (item: QueueItem): string => `${JSON.stringify(item, null, 2)}\n`;

/** A fresh recipient, never tried. */
export function newRecipient(address: string, to: Address): QueueRecipient {
  return {
    address,
    local: to.local,
    domain: to.domain.toLowerCase(),
    status: 'pending',
    attempts: 0,
    next_attempt: null,
    last_error: null,
    diagnostic: null,
    remote_mta: null,
    last_attempt: null,
    dsn_status: null,
  };
}

export const isActive = (r: QueueRecipient): boolean => r.status === 'pending' || r.status === 'deferred';
/** Every recipient sent or failed: the item can leave the queue (after its bounce, if any). */
export const isFinished = (item: QueueItem): boolean => !item.recipients.some(isActive);

/** When a still active recipient is due, in ms since the epoch (a pending one is due at once). */
export const dueTime = (r: QueueRecipient): number => (r.next_attempt === null ? 0 : Date.parse(r.next_attempt));

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
 * The state of one recipient after a transfer outcome. A transient failure is retried with backoff,
 * unless the message has been queued for queue_lifetime (or the next try would come after that):
 * then it fails with 4.4.7, "delivery time expired" (RFC 3463).
 */
export function afterOutcome(r: QueueRecipient, outcome: RecipientOutcome, createdMs: number, now: number, policy: RetryPolicy): QueueRecipient {
  const attempts = r.attempts + 1;
  const common = { attempts, diagnostic: outcome.diagnostic, remote_mta: outcome.remoteMta, last_attempt: new Date(now).toISOString() };
  switch (outcome.status) {
    case 'sent':
      return { ...r, ...common, status: 'sent', next_attempt: null, last_error: null };
    case 'permanent':
      return { ...r, ...common, status: 'failed', next_attempt: null, last_error: outcome.diagnostic, dsn_status: failureStatus(outcome.diagnostic) };
    case 'transient': {
      const next = now + policy.delay(attempts);
      if (now - createdMs >= policy.queueLifetime || next - createdMs > policy.queueLifetime) {
        return { ...r, ...common, status: 'failed', next_attempt: null, last_error: `delivery time expired: ${outcome.diagnostic}`, dsn_status: '4.4.7' };
      }
      return { ...r, ...common, status: 'deferred', next_attempt: new Date(next).toISOString(), last_error: outcome.diagnostic };
    }
  }
}

/** A comparable key for matching a transfer's outcome to our recipient (the domain's case does not matter). */
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
      next_attempt: r.next_attempt,
      last_error: r.last_error,
    })),
  };
}
