// The relay's courier for our own domains, with the router: a local program's mail to info@ourdomain expands as
// inbound mail does (mailboxes and their folders, forwards queued again with an SRS reverse-path). It takes the place
// of outbound/local-courier.ts when the inbound server runs.
import type { MessageSink, PreparedMessage, SessionInfo } from '../delivery.js';
import { deliveredReply, type MaildirDelivery } from '../inbound/maildir-delivery.js';
import type { StoreOutcome } from '../inbound/local-store.js';
import type { Address } from '../mail/address.js';
import { replyText, type Reply } from '../mail/reply.js';
import type { Courier, MessageBody, RecipientOutcome, TransferRequest, TransferResult } from '../outbound/courier.js';
import { replies } from '../smtp/replies.js';
import { isSmtpError, SmtpError } from '../smtp/smtp-error.js';
import { openFoldered } from './foldered-message.js';
import { merge, type InboundRouting } from './inbound-routing.js';
import type { Route } from './route.js';

export class RoutedLocalCourier implements Courier {
  constructor(
    private readonly routing: InboundRouting,
    private readonly maildirs: MaildirDelivery,
    /** Our host name: the "remote MTA" of every outcome. */
    private readonly hostname: string,
  ) {}

  /** Every recipient routed, then one copy per mailbox and one forwarded copy for all; never rejects. */
  async deliver(req: TransferRequest): Promise<TransferResult> {
    const outcome = new Map<Address, RecipientOutcome>();
    const routes = new Map<Address, Route>();
    for (const recipient of req.recipients) {
      try {
        routes.set(recipient, await this.routing.route(recipient));
      } catch (err) {
        outcome.set(recipient, this.#refused(recipient, err));
      }
    }
    let relay: TransferResult['relay'] = null;
    if (routes.size > 0) {
      try {
        const { final, refused } = await this.#store(req, [...routes.values()]);
        for (const [recipient, route] of routes) {
          // A recipient one of whose mailboxes the store refused after the data (LMTP) is tried again as a whole:
          // its other copies may come twice, none is lost.
          const reply = route.mailboxes.map((m) => refused.get(m.mailbox)).find((r) => r !== undefined);
          outcome.set(recipient, reply === undefined ? { recipient, status: 'sent', diagnostic: replyText(final), remoteMta: this.hostname } : this.#refused(recipient, new SmtpError(reply)));
        }
        relay = { host: this.hostname, ip: 'local', tls: null };
      } catch (err) {
        for (const recipient of routes.keys()) outcome.set(recipient, this.#refused(recipient, err));
      }
    }
    return { outcomes: req.recipients.map((r) => outcome.get(r) as RecipientOutcome), relay };
  }

  /**
   * Both or neither, as at the MX (inbound-delivery.ts): the forwarded copy made durable first, the Maildir copies,
   * then the forwarded copy let go (or removed when the copies failed); with the mailboxes the store refused after
   * the data (LMTP), each with its reply.
   */
  async #store(req: TransferRequest, routes: readonly Route[]): Promise<{ final: Reply; refused: ReadonlyMap<string, Reply> }> {
    const { mailboxes, forwards } = merge(routes);
    const log = { id: req.id };
    let prepared: PreparedMessage | null = null;
    let forward: MessageSink | null = null;
    if (forwards.length > 0) {
      const envelope = { reversePath: req.reversePath, recipients: forwards, eightBit: req.eightBit, smtputf8: req.smtputf8, declaredSize: req.size };
      forward = await this.routing.openForward(envelope, forwards, relaySession(req.id));
      try {
        await copy(req.openBody(), (chunk) => forward!.write(chunk));
        prepared = forward.prepare === undefined ? null : await forward.prepare();
      } catch (err) {
        await forward.abort();
        throw err;
      }
    }
    let local: StoreOutcome | null = null;
    if (mailboxes.length > 0) {
      try {
        const message = await openFoldered(this.maildirs, req.reversePath, mailboxes, log);
        try {
          await copy(req.openBody(), (chunk) => message.write(chunk));
        } catch (err) {
          await message.abort();
          throw err;
        }
        try {
          local = await this.maildirs.commit(message, log);
        } finally {
          await message.abort(); // after a commit, only a spool is left to drop
        }
      } catch (err) {
        await (prepared?.discard() ?? forward?.abort());
        throw err;
      }
    }
    if (prepared !== null) prepared.release();
    const queued = prepared?.reply ?? (forward === null ? null : await forward.commit());
    const final = local === null ? (queued ?? replies.localError()) : deliveredReply(local);
    return { final, refused: new Map((local?.failed ?? []).map((f) => [f.target.mailbox, f.reply])) };
  }

  /** The router's or the delivery's SmtpError says whether the failure is final; anything else is ours, and transient. */
  #refused(recipient: Address, err: unknown): RecipientOutcome {
    const reply = isSmtpError(err) ? err.reply : replies.localError();
    return { recipient, status: reply.code >= 500 ? 'permanent' : 'transient', diagnostic: replyText(reply), remoteMta: this.hostname };
  }
}

async function copy(body: MessageBody, write: (chunk: Buffer) => Promise<void>): Promise<void> {
  for await (const chunk of body) await write(chunk);
}

/** The "session" of a forward made by the queue itself: its id is the queue id, for the logs. */
function relaySession(id: string): SessionInfo {
  return { id, remoteAddress: '127.0.0.1', remotePort: 0, localAddress: '127.0.0.1', localPort: 0, heloName: null, esmtp: true, tls: null };
}
