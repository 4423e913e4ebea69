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
export interface ToChecksThread {
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
 * `read`: the octets of a step the thread is done with, so that the event loop may send more (the last step's
 * come with the verdict); `outcome`: the verdict, with the DNS lookups (type, result) that went to the network since
 * the last one, for the metrics.
 */
export interface FromChecksThread {
  readonly id: number;
  readonly read: number;
  readonly outcome?: ThreadOutcome;
  readonly lookups?: readonly (readonly [string, string])[];
}
