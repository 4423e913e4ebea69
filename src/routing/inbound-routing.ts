// The router at the MX (and for the relay's recipients in our domains): each accepted recipient's route, and at DATA
// the Maildir copies (per folder) and the forwarded copy, queued in the relay's queue with an SRS reverse-path.
import type { Delivery, Envelope, MessageSink, SessionInfo } from '../delivery.js';
import type { RecipientRouting } from '../inbound/inbound-delivery.js';
import type { LogContext, MaildirDelivery } from '../inbound/maildir-delivery.js';
import type { StoreMessage, StoreOpenOptions, StoreTarget } from '../inbound/local-store.js';
import { addressKey, formatAddress, type Address } from '../mail/address.js';
import type { Logger } from '../observability/logger.js';
import { replies } from '../smtp/replies.js';
import { SmtpError } from '../smtp/smtp-error.js';
import type { Srs } from '../srs/srs.js';
import { openFoldered } from './foldered-message.js';
import type { MailboxTarget, Route } from './route.js';
import type { Router } from './router.js';

export interface InboundRoutingOptions {
  readonly router: Router;
  readonly maildirs: MaildirDelivery;
  /** The relay's Delivery (its queue), once open; null before, or without the relay: a forward is then 451 4.3.0. */
  readonly forwarder: () => Delivery | null;
  readonly srs: Srs | null;
  readonly logger: Logger;
}

/** What one message becomes: its Maildir copies and its forwarded copy, either absent. */
export interface RoutedCopies {
  readonly message: StoreMessage | null;
  readonly forward: MessageSink | null;
}

export class InboundRouting implements RecipientRouting<Route> {
  readonly #o: InboundRoutingOptions;

  constructor(opts: InboundRoutingOptions) {
    this.#o = opts;
  }

  route(to: Address): Promise<Route> {
    return this.#o.router.route(to);
  }

  /** The mailboxes a route leads to, for the store's own check at RCPT (quota, the LMTP server's verdict). */
  targets(route: Route): readonly StoreTarget[] {
    return route.mailboxes.map((m) => ({ mailbox: m.mailbox, address: m.address }));
  }

  /** Opens the copies of one message for these routes; throws SmtpError (451 4.3.0) when either cannot be started. */
  async open(envelope: Envelope, routes: readonly Route[], session: SessionInfo, log: LogContext, opts: StoreOpenOptions = {}): Promise<RoutedCopies> {
    const { mailboxes, forwards } = merge(routes);
    const message = mailboxes.length === 0 ? null : await openFoldered(this.#o.maildirs, envelope.reversePath, mailboxes, log, opts);
    if (forwards.length === 0) return { message, forward: null };
    try {
      return { message, forward: await this.openForward(envelope, forwards, session) };
    } catch (err) {
      await message?.abort();
      throw err;
    }
  }

  /** The forwarded copy: a new queue item for `forwards`, from the SRS form of the reverse-path. */
  async openForward(envelope: Envelope, forwards: readonly Address[], session: SessionInfo): Promise<MessageSink> {
    const queue = this.#o.forwarder();
    if (queue === null) {
      this.#o.logger.warn({ event: 'forward-unavailable', session: session.id }, 'cannot forward: the relay queue is not open');
      throw new SmtpError(replies.forwardUnavailable());
    }
    const reversePath = this.senderFor(envelope.reversePath);
    this.#o.logger.info(
      { event: 'forward', session: session.id, from: formatAddress(envelope.reversePath), srs_from: formatAddress(reversePath), to: forwards.map(formatAddress) },
      'forwarding',
    );
    return queue.open({ ...envelope, reversePath, recipients: forwards }, session);
  }

  /** The reverse-path of this server's forwarded copies (see forwardSender). */
  senderFor(sender: Address | null): Address | null {
    return forwardSender(sender, this.#o.srs, (d) => this.#o.maildirs.isLocalDomain(d));
  }
}

/**
 * The reverse-path of a forwarded copy: the null one stays null (a bounce is never rewritten, nor bounced); senders
 * in our own domains stay as they are (our SPF covers them), and so do our SRS addresses; any other is rewritten by
 * SRS (none without it).
 */
export function forwardSender(sender: Address | null, srs: Srs | null, isLocalDomain: (domain: string) => boolean): Address | null {
  if (sender === null || srs === null) return sender;
  const domain = sender.domain.toLowerCase();
  if (domain === '' || domain === srs.domain || isLocalDomain(domain)) return sender;
  return srs.forward(sender);
}

/** The distinct mailboxes (first folder wins) and forwards of several recipients' routes. */
export function merge(routes: readonly Route[]): { mailboxes: MailboxTarget[]; forwards: Address[] } {
  const mailboxes = new Map<string, MailboxTarget>();
  const forwards = new Map<string, Address>();
  for (const r of routes) {
    for (const m of r.mailboxes) if (!mailboxes.has(m.mailbox)) mailboxes.set(m.mailbox, m);
    for (const f of r.forwards) if (!forwards.has(addressKey(f))) forwards.set(addressKey(f), f);
  }
  return { mailboxes: [...mailboxes.values()], forwards: [...forwards.values()] };
}
