// The contract of a check run on each incoming message at the end of DATA, before its 250: mail authentication
// (SPF, DKIM, DMARC, ARC), a spam filter (rspamd). Each sees the message as it streams in and ends with a verdict.
import type { Envelope, SessionInfo } from '../delivery.js';
import type { Reply } from '../mail/reply.js';

/** What a check decides about one message. */
export interface CheckVerdict {
  /**
   * accept: store it; junk: store it in the mailbox's Junk folder (Maildir++ `.Junk/`); reject: refuse it with a
   * 5xx reply; defer: refuse it with a 4xx reply (the sender retries).
   */
  readonly action: 'accept' | 'junk' | 'reject' | 'defer';
  /** The reply for reject and defer (5xx, 4xx, with enhanced codes). */
  readonly reply?: Reply;
  /**
   * Header fields to add at the top of the stored message, each one whole ("Name: value", folded lines joined by
   * "\n\t"), without its final line ending; they go above our Received header.
   */
  readonly headers: readonly string[];
  /**
   * Names of header fields (case-insensitive) whose every occurrence in the message's own header section is
   * dropped when it is stored, before `headers` are added. A field replaced (rspamd's "rewrite subject": Subject
   * removed, the new "Subject: ***SPAM*** …" in `headers`) or a field the check owns and a sender may have forged
   * (X-Spam, X-Spamd-Result) is said this way. Absent: nothing removed.
   */
  readonly removeHeaders?: readonly string[];
}

/** One message being checked. */
export interface CheckRun {
  /** A chunk of the message as stored (un-stuffed, LF line endings), in order; never the whole message at once. */
  write(chunk: Buffer): void | Promise<void>;
  /** The message is complete: the verdict. Must not throw: a check that fails says so in its verdict or log. */
  finish(): Promise<CheckVerdict>;
  /** The message will not be stored after all (refused, connection lost): free what the run holds. */
  abort(): void;
}

export interface MessageCheck {
  /** A short name for logs and the config ("mailauth", "rspamd"). */
  readonly name: string;
  start(envelope: Envelope, session: SessionInfo): CheckRun;
}

/** The verdict of several checks: the strongest action wins (reject > defer > junk > accept), headers add up. */
export function combineVerdicts(verdicts: readonly CheckVerdict[]): CheckVerdict {
  // One check (mailauth alone, the usual set-up) removing nothing: its verdict as the loop below would give it,
  // without the per-message arrays and set.
  const only = verdicts.length === 1 ? verdicts[0] : undefined;
  if (only !== undefined && (only.removeHeaders === undefined || only.removeHeaders.length === 0)) {
    if (only.action === 'accept') return { action: 'accept', headers: only.headers };
    return { action: only.action, ...(only.reply === undefined ? {} : { reply: only.reply }), headers: only.headers };
  }
  const rank = { accept: 0, junk: 1, defer: 2, reject: 3 } as const;
  let strongest: CheckVerdict = { action: 'accept', headers: [] };
  for (const v of verdicts) if (rank[v.action] > rank[strongest.action]) strongest = v;
  const headers = verdicts.flatMap((v) => v.headers);
  const removed = [...new Set(verdicts.flatMap((v) => v.removeHeaders ?? []))];
  return {
    action: strongest.action,
    ...(strongest.reply === undefined ? {} : { reply: strongest.reply }),
    headers,
    ...(removed.length === 0 ? {} : { removeHeaders: removed }),
  };
}
