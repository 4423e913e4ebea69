// The MX server's final step (its Delivery): recipients must be local users, and messages go into their Maildirs (with
// the router, README "Addresses": per-folder copies, and forwards into the relay's queue).
import type { Delivery, Envelope, MessageSink, SessionInfo } from '../delivery.js';
import type { Logger } from '../observability/logger.js';
import type { Address } from '../mail/address.js';
import { replies } from '../smtp/replies.js';
import type { Reply } from '../mail/reply.js';
import { SmtpError } from '../smtp/smtp-error.js';
import { AuthResultsFilter } from '../mailauth/auth-results-filter.js';
import type { LogContext, MaildirDelivery } from './maildir-delivery.js';
import type { MaildirMessage } from './maildir-writer.js';
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
 * RCPT (or its refusal, an SmtpError), then at DATA the Maildir copies and the forwarded copy of those routes.
 */
export interface RecipientRouting<R extends object = object> {
  route(to: Address): Promise<R>;
  open(envelope: Envelope, routes: readonly R[], session: SessionInfo, log: LogContext): Promise<{ message: MaildirMessage | null; forward: MessageSink | null }>;
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

  constructor(local: MaildirDelivery, logger: Logger, checking: InboundChecking = { checks: [], authservId: null }, routing: RecipientRouting | null = null) {
    this.#local = local;
    this.#logger = logger;
    this.#checking = checking;
    this.#routing = routing;
  }

  async acceptRecipient(to: Address, _session: SessionInfo): Promise<void> {
    if (this.#routing !== null) this.#routes.set(to, await this.#routing.route(to));
    else this.#accepted.set(to, this.#local.mailboxOf(to));
  }

  async open(envelope: Envelope, session: SessionInfo): Promise<MessageSink> {
    if (this.#routing !== null) return this.#openRouted(this.#routing, envelope, session);
    const mailboxes: string[] = [];
    for (const rcpt of envelope.recipients) {
      const mailbox = this.#accepted.get(rcpt) ?? this.#local.lookup(rcpt);
      if (mailbox === null) {
        // Only possible if the core passes a recipient we never accepted and the map no longer has it.
        this.#logger.warn({ event: 'unmapped-recipient', session: session.id, rcpt: `${rcpt.local}@${rcpt.domain}` }, 'accepted recipient has no mailbox');
        throw new SmtpError(replies.localError());
      }
      if (!mailboxes.includes(mailbox)) mailboxes.push(mailbox); // each mailbox gets one copy
    }
    if (mailboxes.length === 0) throw new SmtpError(replies.noValidRecipients());
    const log = { session: session.id };
    const message = await this.#local.open(envelope.reversePath, mailboxes, log);
    const { checks, authservId } = this.#checking;
    const runs = checks.map((c) => c.start(envelope, session));
    return new MaildirSink(this.#local, message, log, runs, authservId === null ? null : new AuthResultsFilter(authservId), this.#logger);
  }

  /** Each recipient's route (kept from RCPT): Maildir copies by folder, and a forwarded copy into the relay's queue. */
  async #openRouted(routing: RecipientRouting, envelope: Envelope, session: SessionInfo): Promise<MessageSink> {
    const routes: object[] = [];
    for (const rcpt of envelope.recipients) routes.push(this.#routes.get(rcpt) ?? (await routing.route(rcpt)));
    const log = { session: session.id };
    const { message, forward } = await routing.open(envelope, routes, session, log);
    if (message === null && forward === null) throw new SmtpError(replies.noValidRecipients());
    const { checks, authservId } = this.#checking;
    const runs = checks.map((c) => c.start(envelope, session));
    return new MaildirSink(this.#local, message, log, runs, authservId === null ? null : new AuthResultsFilter(authservId), this.#logger, forward);
  }
}

/**
 * One message on its way into the Maildirs: each chunk goes to the checks as it came, and to the files without the
 * Authentication-Results fields that claim to be ours; at the end the checks' verdict refuses the message, or
 * stores it with their headers on top, in the inbox or the Junk folder.
 * With forwarding (README, Addresses), the same text without our verdict's headers goes into the relay's queue as
 * well (`forward`), and the 250 comes once both are durable; `message` is null when every recipient is forwarded.
 */
class MaildirSink implements MessageSink {
  constructor(
    private readonly local: MaildirDelivery,
    private readonly message: MaildirMessage | null,
    private readonly log: LogContext,
    private readonly runs: readonly CheckRun[],
    private readonly filter: AuthResultsFilter | null,
    private readonly logger: Logger,
    private readonly forward: MessageSink | null = null,
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
    try {
      const tail = this.filter?.end();
      if (tail !== undefined) await this.store(tail);
      if (this.forward === null) return (await this.commitLocal()) ?? replies.localError();
      // Both or neither: the forwarded copy is made durable first but scheduled only once the Maildir copies are
      // (the queue's prepare/release); a failure, or the checks' refusal, in between removes it.
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
    }
  }

  /** The Maildir copies, with the checks' verdict; null when there are none (every recipient forwarded). */
  private async commitLocal(): Promise<Reply | null> {
    if (this.runs.length === 0 || this.hold === null) return this.message === null ? null : this.local.commit(this.message, this.log);
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
    return this.local.commit(this.message, this.log, { prefix, ...(verdict.action === 'junk' ? { folder: 'Junk' } : {}) });
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
