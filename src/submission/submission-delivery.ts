// The submission server's Delivery: the relay's queue for a logged-in user sending as one of their own addresses.
import { randomBytes } from 'node:crypto';
import type { AuthenticatedUser, Delivery, Envelope, MessageSink, SessionInfo } from '../delivery.js';
import type { Mailboxes } from '../inbound/mailboxes.js';
import { formatAddress, type Address } from '../mail/address.js';
import { replies } from '../smtp/replies.js';
import type { Reply } from '../mail/reply.js';
import { SmtpError } from '../smtp/smtp-error.js';
import { formatMessageDate } from '../smtp/server/trace-headers.js';
import { fromAddresses } from './from-addresses.js';
import { HeaderEditor, type HeaderFacts } from './header-editor.js';
import type { MessageRateLimit } from './rate-limit.js';

export interface SubmissionDeliveryOptions {
  /** The loopback relay's Delivery: submitted mail is queued exactly as a local program's. */
  readonly relay: Delivery;
  /** The current mailboxes (they change on SIGHUP): a user may send as any address of their mailbox. */
  readonly mailboxes: () => Mailboxes;
  readonly rate: MessageRateLimit;
  /** For Message-ID: the right-hand side names this host (RFC 5322 §3.6.4). */
  readonly hostname: string;
  readonly now: () => Date;
}

export class SubmissionDelivery implements Delivery {
  readonly #opts: SubmissionDeliveryOptions;

  constructor(opts: SubmissionDeliveryOptions) {
    this.#opts = opts;
  }

  /** MAIL: only after AUTH, from one of the user's addresses or <>, and under the hourly limit. */
  async acceptSender(from: Address | null, session: SessionInfo): Promise<void> {
    const user = loggedIn(session);
    if (from !== null && !this.#owns(user, from)) throw new SmtpError(replies.senderNotYours(formatAddress(from)));
    if (!this.#opts.rate.allows(user.mailbox)) throw new SmtpError(replies.tooManyMessagesPerHour(this.#opts.rate.maxPerHour));
  }

  async acceptRecipient(to: Address, session: SessionInfo): Promise<void> {
    loggedIn(session);
    await this.#opts.relay.acceptRecipient(to, session);
  }

  async open(envelope: Envelope, session: SessionInfo): Promise<MessageSink> {
    const user = loggedIn(session);
    const { rate } = this.#opts;
    // Reserved now, counted at commit: sessions in parallel cannot overshoot the limit together.
    if (!rate.reserve(user.mailbox)) throw new SmtpError(replies.tooManyMessagesPerHour(rate.maxPerHour));
    let inner: MessageSink;
    try {
      inner = await this.#opts.relay.open(envelope, session);
    } catch (err) {
      rate.release(user.mailbox, false);
      throw err;
    }
    const editor = new HeaderEditor((facts) => this.#additions(facts, user, envelope));
    return new SubmissionSink(inner, editor, (committed) => rate.release(user.mailbox, committed));
  }

  #owns(user: AuthenticatedUser, address: Address): boolean {
    return this.#opts.mailboxes().lookup(address) === user.mailbox;
  }

  /**
   * At the end of the header section: every From: address must be the user's (no sending as someone else), and
   * a message without Date: or Message-ID: gets them (RFC 6409 §8.2, §8.3), as one without From: gets the sender.
   */
  #additions(facts: HeaderFacts, user: AuthenticatedUser, envelope: Envelope): string {
    for (const value of facts.from) {
      const addresses = value === null ? null : fromAddresses(value);
      if (addresses === null) throw new SmtpError(replies.fromHeaderNotYours(value === null ? '(too long to read)' : value.slice(0, 200)));
      const foreign = addresses.find((a) => !this.#owns(user, a));
      if (foreign !== undefined) throw new SmtpError(replies.fromHeaderNotYours(formatAddress(foreign)));
    }
    let added = '';
    if (facts.from.length === 0) added += `From: <${envelope.reversePath === null ? user.login : formatAddress(envelope.reversePath)}>\n`;
    if (!facts.hasDate) added += `Date: ${formatMessageDate(this.#opts.now())}\n`;
    if (!facts.hasMessageId) added += `Message-ID: <${this.#opts.now().getTime().toString(36)}.${randomBytes(9).toString('base64url')}@${this.#opts.hostname}>\n`;
    return added;
  }
}

/** The session's user; MAIL, RCPT and DATA before AUTH get 530 (RFC 4954 §6). */
function loggedIn(session: SessionInfo): AuthenticatedUser {
  if (session.auth == null) throw new SmtpError(replies.authRequired());
  return session.auth;
}

/** The relay's sink behind the header editor; tells the rate limit whether the message was accepted. */
class SubmissionSink implements MessageSink {
  #settled = false;

  constructor(
    private readonly inner: MessageSink,
    private readonly editor: HeaderEditor,
    private readonly done: (committed: boolean) => void,
  ) {}

  /** Throws SmtpError 553 once the From: field shows someone else's address: the core then reads to the end and refuses. */
  async write(chunk: Buffer): Promise<void> {
    for (const piece of this.editor.push(chunk)) if (piece.length > 0) await this.inner.write(piece);
  }

  async commit(): Promise<Reply> {
    try {
      for (const piece of this.editor.end()) if (piece.length > 0) await this.inner.write(piece);
      const reply = await this.inner.commit();
      this.#settle(true);
      return reply;
    } catch (err) {
      this.#settle(false);
      throw err;
    }
  }

  async abort(): Promise<void> {
    this.#settle(false);
    await this.inner.abort();
  }

  #settle(committed: boolean): void {
    if (this.#settled) return;
    this.#settled = true;
    this.done(committed);
  }
}
