// The MX server's final step (its Delivery): recipients must be local users, and messages go into their Maildirs or
// the LMTP store (with the router, README "Addresses": per-folder copies, and forwards into the relay's queue).
import type { Delivery, Envelope, MessageSink, SessionInfo, TransactionInfo } from '../delivery.js';
import type { Logger } from '../observability/logger.js';
import type { Address } from '../mail/address.js';
import { replies } from '../smtp/replies.js';
import type { Reply } from '../mail/reply.js';
import { SmtpError } from '../smtp/smtp-error.js';
import { AuthResultsFilter } from '../mailauth/auth-results-filter.js';
import { deliveredReply, type LogContext, type MaildirDelivery } from './maildir-delivery.js';
import type { StoreMessage, StoreOpenOptions, StoreOutcome, StoreTarget } from './local-store.js';
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

/**
 * What the delivery asks of the router (routing/inbound-routing.ts, README "Addresses"): each recipient's route at
 * RCPT (or its refusal, an SmtpError), then at DATA the store's copies and the forwarded copy of those routes.
 */
export interface RecipientRouting<R extends object = object> {
  route(to: Address): Promise<R>;
  /** The mailboxes a route leads to: each is checked by the store at RCPT, as a plain recipient's mailbox is. */
  targets(route: R): readonly StoreTarget[];
  open(envelope: Envelope, routes: readonly R[], session: SessionInfo, log: LogContext, opts?: StoreOpenOptions): Promise<{ message: StoreMessage | null; forward: MessageSink | null }>;
}

/** What InboundDelivery is given besides the store and the logger. */
export interface InboundDeliveryOptions {
  /** The checks run on each message (none by default). */
  readonly checking?: InboundChecking;
  /** The router (README, Addresses); null or absent: each recipient is its own mailbox. */
  readonly routing?: RecipientRouting | null;
  /** Where recipients the store refuses after the data go (the relay's queue), or undefined: see settlePartial. */
  readonly requeue?: Requeue;
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
  /** The same for the router's routes (README, Addresses), when there is a router. */
  readonly #routes = new WeakMap<Address, object>();
  readonly #routing: RecipientRouting | null;
  /** The transaction each recipient was checked in, for the store to find what it opened then (LMTP). */
  readonly #transactions = new WeakMap<Address, TransactionInfo>();
  readonly #requeue: Requeue | undefined;

  constructor(local: MaildirDelivery, logger: Logger, opts: InboundDeliveryOptions = {}) {
    this.#local = local;
    this.#logger = logger;
    this.#checking = opts.checking ?? { checks: [], authservId: null };
    this.#routing = opts.routing ?? null;
    this.#requeue = opts.requeue;
  }

  async acceptRecipient(to: Address, session: SessionInfo, transaction?: TransactionInfo): Promise<void> {
    let targets: readonly StoreTarget[];
    let route: object | null = null;
    let mailbox: string | null = null;
    if (this.#routing !== null) {
      route = await this.#routing.route(to);
      targets = this.#routing.targets(route);
    } else {
      mailbox = this.#local.mailboxOf(to);
      targets = [{ mailbox, address: to }];
    }
    // The store's own verdict (a quota, the LMTP server's) on every mailbox the recipient leads to, in the
    // transaction's name: one full mailbox among an alias's refuses the alias (its sender hears of it now).
    if (transaction !== undefined) {
      for (const target of targets) await this.#local.checkRecipient(target, transaction, { session: session.id });
      this.#transactions.set(to, transaction);
    }
    if (route !== null) this.#routes.set(to, route);
    if (mailbox !== null) this.#accepted.set(to, mailbox);
  }

  async open(envelope: Envelope, session: SessionInfo): Promise<MessageSink> {
    if (this.#routing !== null) return this.#openRouted(this.#routing, envelope, session);
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
    const message = await this.#local.open(envelope.reversePath, [...targets.values()], log, this.#openOptions(envelope));
    return this.#sink(envelope, session, log, message, null);
  }

  /** Each recipient's route (kept from RCPT): the store's copies by folder, and a forwarded copy into the relay's queue. */
  async #openRouted(routing: RecipientRouting, envelope: Envelope, session: SessionInfo): Promise<MessageSink> {
    const routes: object[] = [];
    for (const rcpt of envelope.recipients) routes.push(this.#routes.get(rcpt) ?? (await routing.route(rcpt)));
    const log = { session: session.id };
    const { message, forward } = await routing.open(envelope, routes, session, log, this.#openOptions(envelope));
    if (message === null && forward === null) throw new SmtpError(replies.noValidRecipients());
    return this.#sink(envelope, session, log, message, forward);
  }

  /** The store's options: the transaction checked at RCPT (the LMTP session opened then), late headers, requeue. */
  #openOptions(envelope: Envelope): StoreOpenOptions {
    const first = envelope.recipients[0];
    const transaction = first === undefined ? undefined : this.#transactions.get(first);
    return {
      ...(transaction === undefined ? {} : { transaction }),
      lateHeaders: this.#checking.checks.length > 0,
      replayable: this.#requeue !== undefined,
    };
  }

  #sink(envelope: Envelope, session: SessionInfo, log: LogContext, message: StoreMessage | null, forward: MessageSink | null): MessageSink {
    const { checks, authservId } = this.#checking;
    const runs = checks.map((c) => c.start(envelope, session));
    const settle = (outcome: StoreOutcome): Promise<void> => settlePartial(outcome, { reversePath: envelope.reversePath, requeue: this.#requeue, logger: this.#logger, log });
    return new MaildirSink(this.#local, message, log, runs, authservId === null ? null : new AuthResultsFilter(authservId), this.#logger, settle, forward);
  }
}

/**
 * One message on its way into the store: each chunk goes to the checks as it came, and to the store without the
 * Authentication-Results fields that claim to be ours; at the end the checks' verdict refuses the message, or
 * stores it with their headers on top, in the inbox or the Junk folder. Recipients the store refuses after the data
 * (LMTP) are settled (requeued, or 451) before the reply.
 * With forwarding (README, Addresses), the same text without our verdict's headers goes into the relay's queue as
 * well (`forward`), and the 250 comes once both are durable; `message` is null when every recipient is forwarded.
 */
class MaildirSink implements MessageSink {
  constructor(
    private readonly local: MaildirDelivery,
    private readonly message: StoreMessage | null,
    private readonly log: LogContext,
    private readonly runs: readonly CheckRun[],
    private readonly filter: AuthResultsFilter | null,
    private readonly logger: Logger,
    private readonly settle: (outcome: StoreOutcome) => Promise<void>,
    private readonly forward: MessageSink | null = null,
  ) {
    // With checks, the header section waits in memory for their verdict (which may edit it); without, nothing waits.
    this.hold = runs.length === 0 ? null : new HeaderHold();
  }

  private readonly hold: HeaderHold | null;

  async write(chunk: Buffer): Promise<void> {
    for (const run of this.runs) {
      // A check that hashes as it goes (mailauth) answers at once: no await, no microtask per chunk.
      const pending = run.write(chunk);
      if (pending !== undefined) await pending;
    }
    await this.store(this.filter === null ? chunk : this.filter.push(chunk));
  }

  async commit(): Promise<Reply> {
    try {
      const tail = this.filter?.end();
      if (tail !== undefined) await this.store(tail);
      if (this.forward === null) return (await this.commitLocal()) ?? replies.localError();
      // Both or neither: the forwarded copy is made durable first but scheduled only once the store's copies are
      // (the queue's prepare/release); a failure, the checks' refusal, or a 451 for recipients the store refused
      // after the data (nobody is told the forward went) in between removes it.
      const prepared = this.forward.prepare === undefined ? null : await this.forward.prepare();
      let local: Reply | null;
      try {
        local = await this.commitLocal();
      } catch (err) {
        await prepared?.discard();
        throw err;
      }
      if (prepared === null) {
        const queued = await this.forward.commit(); // a sink without prepare: after the copies (a retry duplicates them)
        return local ?? queued;
      }
      prepared.release();
      return local ?? prepared.reply;
    } catch (err) {
      await this.forward?.abort();
      throw err;
    } finally {
      await this.message?.abort(); // after a commit, only a spool is left to drop
    }
  }

  /** The store's copies, with the checks' verdict, settled; null when there are none (every recipient forwarded). */
  private async commitLocal(): Promise<Reply | null> {
    if (this.runs.length === 0 || this.hold === null) return this.message === null ? null : this.stored(this.local.commit(this.message, this.log));
    const verdict = combineVerdicts(await Promise.all(this.runs.map((r) => r.finish())));
    if (verdict.action === 'reject' || verdict.action === 'defer') {
      await this.message?.abort();
      throw new SmtpError(verdict.reply ?? (verdict.action === 'reject' ? replies.policyRefused() : replies.localError()));
    }
    if (this.message === null) return null;
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
  private async stored(committing: Promise<StoreOutcome>): Promise<Reply> {
    const outcome = await committing;
    await this.settle(outcome);
    return deliveredReply(outcome);
  }

  /** Writes what may be written now: everything without checks; with them, the body (the header section is held). */
  private async store(chunk: Buffer): Promise<void> {
    // The forwarded copy takes the text as it came (no verdict headers): nothing of it waits.
    if (this.forward !== null && chunk.length > 0) await this.forward.write(chunk);
    if (this.message === null) return;
    const now = this.hold === null ? chunk : this.hold.push(chunk);
    if (now.length > 0) await this.message.write(now);
  }

  async abort(): Promise<void> {
    for (const run of this.runs) run.abort();
    await this.message?.abort();
    await this.forward?.abort();
  }
}
