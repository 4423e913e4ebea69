// The MX server's final step (its Delivery): recipients must be local users, and messages go into their Maildirs.
import type { Delivery, Envelope, MessageSink, SessionInfo } from '../delivery.js';
import type { Logger } from '../observability/logger.js';
import type { Address } from '../mail/address.js';
import { replies } from '../smtp/replies.js';
import type { Reply } from '../mail/reply.js';
import { SmtpError } from '../smtp/smtp-error.js';
import type { LogContext, MaildirDelivery } from './maildir-delivery.js';
import type { MaildirMessage } from './maildir-writer.js';

export class InboundDelivery implements Delivery {
  readonly #local: MaildirDelivery;
  readonly #logger: Logger;
  /**
   * The mailbox chosen when each recipient was accepted, keyed by the Address object the core keeps in its
   * transaction: a SIGHUP reload between RCPT and DATA must not drop a recipient we already said 250 to.
   * Weak, so a transaction that ends without DATA leaves nothing behind.
   */
  readonly #accepted = new WeakMap<Address, string>();

  constructor(local: MaildirDelivery, logger: Logger) {
    this.#local = local;
    this.#logger = logger;
  }

  async acceptRecipient(to: Address, _session: SessionInfo): Promise<void> {
    this.#accepted.set(to, this.#local.mailboxOf(to));
  }

  async open(envelope: Envelope, session: SessionInfo): Promise<MessageSink> {
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
    return new MaildirSink(this.#local, await this.#local.open(envelope.reversePath, mailboxes, log), log);
  }
}

class MaildirSink implements MessageSink {
  constructor(
    private readonly local: MaildirDelivery,
    private readonly message: MaildirMessage,
    private readonly log: LogContext,
  ) {}

  write(chunk: Buffer): Promise<void> {
    return this.message.write(chunk);
  }

  commit(): Promise<Reply> {
    return this.local.commit(this.message, this.log);
  }

  abort(): Promise<void> {
    return this.message.abort();
  }
}
