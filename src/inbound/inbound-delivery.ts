// The inbound server's final step: recipients must be local users, and messages go into their Maildirs.
import type { InboundConfig } from '../config/config.js';
import type { Delivery, Envelope, MessageSink, SessionInfo } from '../delivery.js';
import type { Logger } from '../observability/logger.js';
import { formatAddress, type Address } from '../smtp/address.js';
import { replies } from '../smtp/replies.js';
import type { Reply } from '../smtp/reply.js';
import { SmtpError } from '../smtp/smtp-error.js';
import type { Mailboxes } from './mailboxes.js';
import { MaildirNamer } from './maildir-name.js';
import { errorCode } from '../fs/error-code.js';
import { MaildirWriter, type MaildirMessage } from './maildir-writer.js';

export interface InboundDeliveryOptions {
  readonly config: InboundConfig;
  readonly hostname: string;
  readonly pid: number;
  readonly now: () => Date;
  readonly logger: Logger;
  readonly mailboxes: Mailboxes;
}

export class InboundDelivery implements Delivery {
  readonly #logger: Logger;
  readonly #writer: MaildirWriter;
  #mailboxes: Mailboxes;
  /**
   * The mailbox chosen when each recipient was accepted, keyed by the Address object the core keeps in its
   * transaction: a SIGHUP reload between RCPT and DATA must not drop a recipient we already said 250 to.
   * Weak, so a transaction that ends without DATA leaves nothing behind.
   */
  readonly #accepted = new WeakMap<Address, string>();

  constructor(opts: InboundDeliveryOptions) {
    this.#logger = opts.logger;
    this.#mailboxes = opts.mailboxes;
    const namer = new MaildirNamer({ hostname: opts.hostname, pid: opts.pid, now: opts.now });
    this.#writer = new MaildirWriter({ root: opts.config.maildirRoot, namer });
  }

  /** SIGHUP: new recipients are checked against the new map; accepted ones keep their mailbox. */
  setMailboxes(m: Mailboxes): void {
    this.#mailboxes = m;
  }

  async acceptRecipient(to: Address, _session: SessionInfo): Promise<void> {
    // The bare <postmaster> (domain "") must always be accepted (RFC 5321 §4.1.1.3); any other
    // non-local domain, address literals included, would be relaying, which the MX never does.
    const bare = to.domain === '' && to.local.toLowerCase() === 'postmaster';
    if (!bare && !this.#mailboxes.isLocalDomain(to.domain)) throw new SmtpError(replies.relayDenied());
    const mailbox = this.#mailboxes.lookup(to);
    if (mailbox === null) throw new SmtpError(replies.unknownMailbox());
    this.#accepted.set(to, mailbox);
  }

  async open(envelope: Envelope, session: SessionInfo): Promise<MessageSink> {
    const mailboxes: string[] = [];
    for (const rcpt of envelope.recipients) {
      const mailbox = this.#accepted.get(rcpt) ?? this.#mailboxes.lookup(rcpt);
      if (mailbox === null) {
        // Only possible if the core passes a recipient we never accepted and the map no longer has it.
        this.#logger.warn({ event: 'unmapped-recipient', session: session.id, rcpt: `${rcpt.local}@${rcpt.domain}` }, 'accepted recipient has no mailbox');
        throw new SmtpError(replies.localError());
      }
      if (!mailboxes.includes(mailbox)) mailboxes.push(mailbox); // each mailbox gets one copy
    }
    if (mailboxes.length === 0) throw new SmtpError(replies.noValidRecipients());
    // RFC 5321 §4.4: the final delivery adds Return-Path with the reverse-path ("<>" for the null one).
    const header = Buffer.from(`Return-Path: <${formatAddress(envelope.reversePath)}>\n`, 'utf8');
    let message: MaildirMessage;
    try {
      message = await this.#writer.open(mailboxes, header);
    } catch (err) {
      this.#logStorageFailure(session, err);
      throw new SmtpError(replies.storageFailure(), { cause: err });
    }
    return new MaildirSink(message, session, this.#logger, (err) => this.#logStorageFailure(session, err));
  }

  async close(): Promise<void> {
    await this.#writer.close();
  }

  #logStorageFailure(session: SessionInfo, err: unknown): void {
    this.#logger.warn(
      { event: 'storage-failure', session: session.id, code: errorCode(err) ?? 'unknown', err: String(err) },
      'Maildir storage failure',
    );
  }
}

class MaildirSink implements MessageSink {
  constructor(
    private readonly message: MaildirMessage,
    private readonly session: SessionInfo,
    private readonly logger: Logger,
    private readonly onStorageFailure: (err: unknown) => void,
  ) {}

  write(chunk: Buffer): Promise<void> {
    return this.message.write(chunk);
  }

  async commit(): Promise<Reply> {
    let copies;
    try {
      copies = await this.message.commit();
    } catch (err) {
      await this.message.abort();
      this.onStorageFailure(err);
      throw new SmtpError(replies.storageFailure(), { cause: err });
    }
    for (const c of copies) {
      this.logger.info({ event: 'delivered', session: this.session.id, mailbox: c.mailbox, file: c.name, size: c.size }, 'delivered');
    }
    // A 250 only now: every copy is flushed, and so is its new/ directory.
    return replies.delivered(copies[0]?.name ?? '');
  }

  abort(): Promise<void> {
    return this.message.abort();
  }
}
