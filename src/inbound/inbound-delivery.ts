// The MX server's final step (its Delivery): recipients must be local users, and messages go into their Maildirs.
import type { Delivery, Envelope, MessageSink, SessionInfo, TransactionInfo } from '../delivery.js';
import type { Logger } from '../observability/logger.js';
import type { Address } from '../mail/address.js';
import { replies } from '../smtp/replies.js';
import type { Reply } from '../mail/reply.js';
import { SmtpError } from '../smtp/smtp-error.js';
import { AuthResultsFilter } from '../mailauth/auth-results-filter.js';
import { deliveredReply, type LogContext, type MaildirDelivery } from './maildir-delivery.js';
import type { StoreMessage, StoreTarget } from './local-store.js';
import { settlePartial } from './partial-delivery.js';
import type { Requeue } from './requeue.js';
import { HeaderHold } from './header-hold.js';
import { combineVerdicts, type CheckRun, type MessageCheck } from './message-check.js';

export interface InboundChecking {
  /** Run on every message while it arrives; their verdicts decide at the end of DATA. */
  readonly checks: readonly MessageCheck[];
  /**
   * Our authserv-id: an Authentication-Results field of the message that claims it is removed before storing
   * (RFC 8601 §5), so that no sender can forge our verdict. null: messages are stored as they came.
   */
  readonly authservId: string | null;
}

export class InboundDelivery implements Delivery {
  readonly #local: MaildirDelivery;
  readonly #logger: Logger;
  readonly #checking: InboundChecking;
  /**
   * The mailbox chosen when each recipient was accepted, keyed by the Address object the core keeps in its
   * transaction: a SIGHUP reload between RCPT and DATA must not drop a recipient we already said 250 to.
   * Weak, so a transaction that ends without DATA leaves nothing behind.
   */
  readonly #accepted = new WeakMap<Address, string>();
  /** The transaction each recipient was checked in, for the store to find what it opened then (LMTP). */
  readonly #transactions = new WeakMap<Address, TransactionInfo>();
  /** Where recipients the store refuses after the data go (the relay's queue), or undefined: see settlePartial. */
  readonly #requeue: Requeue | undefined;

  constructor(local: MaildirDelivery, logger: Logger, checking: InboundChecking = { checks: [], authservId: null }, requeue?: Requeue) {
    this.#local = local;
    this.#logger = logger;
    this.#checking = checking;
    this.#requeue = requeue;
  }

  async acceptRecipient(to: Address, session: SessionInfo, transaction?: TransactionInfo): Promise<void> {
    const mailbox = this.#local.mailboxOf(to);
    // The store's own verdict (a quota, the LMTP server's), in the transaction's name.
    if (transaction !== undefined) {
      await this.#local.checkRecipient({ mailbox, address: to }, transaction, { session: session.id });
      this.#transactions.set(to, transaction);
    }
    this.#accepted.set(to, mailbox);
  }

  async open(envelope: Envelope, session: SessionInfo): Promise<MessageSink> {
    const targets = new Map<string, StoreTarget>();
    for (const rcpt of envelope.recipients) {
      const mailbox = this.#accepted.get(rcpt) ?? this.#local.lookup(rcpt);
      if (mailbox === null) {
        // Only possible if the core passes a recipient we never accepted and the map no longer has it.
        this.#logger.warn({ event: 'unmapped-recipient', session: session.id, rcpt: `${rcpt.local}@${rcpt.domain}` }, 'accepted recipient has no mailbox');
        throw new SmtpError(replies.localError());
      }
      if (!targets.has(mailbox)) targets.set(mailbox, { mailbox, address: rcpt }); // each mailbox gets one copy
    }
    if (targets.size === 0) throw new SmtpError(replies.noValidRecipients());
    const log = { session: session.id };
    const { checks, authservId } = this.#checking;
    const first = envelope.recipients[0];
    const transaction = first === undefined ? undefined : this.#transactions.get(first);
    const message = await this.#local.open(envelope.reversePath, [...targets.values()], log, {
      ...(transaction === undefined ? {} : { transaction }),
      lateHeaders: checks.length > 0,
      replayable: this.#requeue !== undefined,
    });
    const runs = checks.map((c) => c.start(envelope, session));
    const settle = (outcome: Parameters<typeof settlePartial>[0]): Promise<void> => settlePartial(outcome, { reversePath: envelope.reversePath, requeue: this.#requeue, logger: this.#logger, log });
    return new MaildirSink(this.#local, message, log, runs, authservId === null ? null : new AuthResultsFilter(authservId), this.#logger, settle);
  }
}

/**
 * One message on its way into the Maildirs: each chunk goes to the checks as it came, and to the files without the
 * Authentication-Results fields that claim to be ours; at the end the checks' verdict refuses the message, or
 * stores it with their headers on top, in the inbox or the Junk folder.
 */
class MaildirSink implements MessageSink {
  constructor(
    private readonly local: MaildirDelivery,
    private readonly message: StoreMessage,
    private readonly log: LogContext,
    private readonly runs: readonly CheckRun[],
    private readonly filter: AuthResultsFilter | null,
    private readonly logger: Logger,
    private readonly settle: (outcome: Parameters<typeof settlePartial>[0]) => Promise<void>,
  ) {
    // With checks, the header section waits in memory for their verdict (which may edit it); without, nothing waits.
    this.hold = runs.length === 0 ? null : new HeaderHold();
  }

  private readonly hold: HeaderHold | null;

  async write(chunk: Buffer): Promise<void> {
    for (const run of this.runs) await run.write(chunk);
    await this.store(this.filter === null ? chunk : this.filter.push(chunk));
  }

  async commit(): Promise<Reply> {
    const tail = this.filter?.end();
    if (tail !== undefined) await this.store(tail);
    if (this.runs.length === 0 || this.hold === null) return this.stored(this.local.commit(this.message, this.log));
    const verdict = combineVerdicts(await Promise.all(this.runs.map((r) => r.finish())));
    if (verdict.action === 'reject' || verdict.action === 'defer') {
      await this.message.abort();
      throw new SmtpError(verdict.reply ?? (verdict.action === 'reject' ? replies.policyRefused() : replies.localError()));
    }
    const remove = verdict.removeHeaders ?? [];
    if (this.hold.overflowed && remove.length > 0) {
      this.logger.warn({ event: 'header-not-edited', ...this.log, fields: remove }, 'header section too large to edit: fields left as they came');
    }
    // Our headers, then the message's own header section (edited as the verdict asks), before the body already written.
    const ours = Buffer.from(verdict.headers.map((h) => `${h}\n`).join(''));
    const prefix = this.hold.overflowed ? ours : Buffer.concat([ours, this.hold.header(remove)]);
    return this.stored(this.local.commit(this.message, this.log, { prefix, ...(verdict.action === 'junk' ? { folder: 'Junk' } : {}) }));
  }

  /** The 250 once the recipients the store refused after the data are settled (partial-delivery.ts). */
  private async stored(committing: ReturnType<MaildirDelivery['commit']>): Promise<Reply> {
    try {
      const outcome = await committing;
      await this.settle(outcome);
      return deliveredReply(outcome);
    } finally {
      await this.message.abort(); // after a commit, only a spool is left to drop
    }
  }

  /** Writes what may be written now: everything without checks; with them, the body (the header section is held). */
  private async store(chunk: Buffer): Promise<void> {
    const now = this.hold === null ? chunk : this.hold.push(chunk);
    if (now.length > 0) await this.message.write(now);
  }

  async abort(): Promise<void> {
    for (const run of this.runs) run.abort();
    await this.message.abort();
  }
}
