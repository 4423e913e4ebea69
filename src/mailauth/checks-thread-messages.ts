// What the event loop and the checks' thread (checks-thread.ts) say to each other.
import type { Reply } from '../mail/reply.js';
import type { DnsResolverOptions } from '../dns/dns-resolver.js';
import type { DmarcPolicyMode, SessionFacts, Verdict } from './message-checks.js';

/** Given to the thread when it starts. */
export interface ChecksThreadData {
  /** The program's resolver settings (dns_servers, timeouts): the thread's resolver is built from them. */
  readonly dns: Pick<DnsResolverOptions, 'servers' | 'timeoutMs' | 'attempts' | 'cacheSize'>;
  readonly hostname: string;
  readonly dmarcPolicy: DmarcPolicyMode;
}

/**
 * One step of one message, by its id: `facts` starts it, `chunks` are the next pieces of its text (transferred, not
 * copied), `end` asks for the verdict, `abort` drops it.
 */
export interface CheckStep {
  readonly id: number;
  readonly facts?: SessionFacts;
  readonly chunks: readonly Uint8Array[];
  readonly end?: true;
  readonly abort?: true;
}

/** What a message's checks found: the part of CheckOutcome the server uses, and the error's text. */
export interface ThreadOutcome {
  readonly header: string;
  readonly verdict: Verdict;
  readonly reply: Reply | null;
  readonly summary: string;
  readonly error?: string;
}

/**
 * What goes to the thread: the steps of one turn of the event loop, of any messages, in their order. One message
 * per turn, not one per step: waking a sleeping thread is what a message costs most (see threaded-checks.ts).
 */
export type ToChecksThread = readonly CheckStep[];

/** A message's verdict, by its id. */
export interface ThreadVerdict {
  readonly id: number;
  readonly outcome: ThreadOutcome;
}

/**
 * What comes back, once per turn of the thread's loop: `read`, the octets of the steps it is done with, so that the
 * event loop may send more; the verdicts found since the last time; the DNS lookups (type, result) that went to the
 * network since then, for the metrics.
 */
export interface FromChecksThread {
  readonly read: number;
  readonly verdicts: readonly ThreadVerdict[];
  readonly lookups: readonly (readonly [string, string])[];
}
