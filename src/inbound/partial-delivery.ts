// A message the store took for some recipients and refused for others after the data (LMTP): what becomes of those.
import type { Address } from '../mail/address.js';
import type { Logger } from '../observability/logger.js';
import { replies } from '../smtp/replies.js';
import { SmtpError } from '../smtp/smtp-error.js';
import type { StoreLog, StoreOutcome } from './local-store.js';
import type { Requeue } from './requeue.js';

export interface PartialContext {
  readonly reversePath: Address | null;
  /** The relay's queue, or undefined when there is none. */
  readonly requeue: Requeue | undefined;
  readonly logger: Logger;
  readonly log: StoreLog;
}

/**
 * The SMTP client gets one reply for the whole message, and some recipients already have it: a 4xx or 5xx now would
 * make the sender send it again to all (duplicates) or bounce it for all (a lie). So the refused recipients go into
 * the relay's queue, which retries them through the store and bounces them to the sender if refused for good, and
 * the client gets 250. Without a queue (outbound disabled), or when the queue cannot take them, the client gets
 * 451 4.3.0: those who have it may get it twice, but nobody loses it.
 */
export async function settlePartial(outcome: StoreOutcome, ctx: PartialContext): Promise<void> {
  if (outcome.failed.length === 0) return;
  const recipients = outcome.failed.map((f) => f.target.address);
  const mailboxes = outcome.failed.map((f) => f.target.mailbox);
  if (ctx.requeue !== undefined && outcome.replay !== undefined) {
    try {
      await ctx.requeue(ctx.reversePath, recipients, outcome.replay());
      ctx.logger.info({ event: 'requeued', ...ctx.log, mailboxes }, 'recipients refused after the data queued for another attempt');
      return;
    } catch (err) {
      ctx.logger.error({ event: 'requeue-failed', ...ctx.log, mailboxes, err: String(err) }, 'could not queue the refused recipients');
    }
  }
  ctx.logger.warn({ event: 'partial-delivery', ...ctx.log, mailboxes, delivered: outcome.stored.map((s) => s.mailbox) }, 'message refused for some recipients after the data: 451 (the others may get it twice)');
  throw new SmtpError(replies.storageFailure());
}
