// The courier for our own domains: relay recipients there go straight into their Maildir (as Postfix's local
// transport does), instead of a round trip through DNS and our own port 25, which may not be reachable from here.
import type { Address } from '../mail/address.js';
import { replies } from '../smtp/replies.js';
import { replyText, type Reply } from '../mail/reply.js';
import { isSmtpError } from '../smtp/smtp-error.js';
import type { Courier, MessageBody, RecipientOutcome, TransferRequest, TransferResult } from './courier.js';

/** What the courier needs of local delivery (inbound/maildir-delivery.ts): no SMTP session is involved. */
export interface LocalMailboxes {
  /** The mailbox of a local recipient; throws SmtpError (550 5.1.1 unknown, 550 5.7.1 not a local domain). */
  mailboxOf(to: Address): string;
  /** Stores the message once per mailbox and resolves with the final 250 once durable; throws SmtpError (451 4.3.0). */
  deliver(reversePath: Address | null, mailboxes: readonly string[], body: MessageBody, log: Readonly<Record<string, string>>): Promise<Reply>;
}

export class LocalCourier implements Courier {
  readonly #mailboxes: LocalMailboxes;
  /** Our host name: the "remote MTA" of every outcome. */
  readonly #hostname: string;

  constructor(mailboxes: LocalMailboxes, hostname: string) {
    this.#mailboxes = mailboxes;
    this.#hostname = hostname;
  }

  /** Every recipient checked, then one Maildir copy per mailbox; never rejects. */
  async deliver(req: TransferRequest): Promise<TransferResult> {
    const outcome = new Map<Address, RecipientOutcome>();
    const mailboxes = new Map<Address, string>();
    for (const recipient of req.recipients) {
      try {
        mailboxes.set(recipient, this.#mailboxes.mailboxOf(recipient));
      } catch (err) {
        outcome.set(recipient, this.#refused(recipient, err));
      }
    }
    let relay: TransferResult['relay'] = null;
    if (mailboxes.size > 0) {
      try {
        // The stored message already starts with the Received header the relay added.
        const final = await this.#mailboxes.deliver(req.reversePath, [...new Set(mailboxes.values())], req.openBody(), { id: req.id });
        for (const recipient of mailboxes.keys()) outcome.set(recipient, { recipient, status: 'sent', diagnostic: replyText(final), remoteMta: this.#hostname });
        relay = { host: this.#hostname, ip: 'local', tls: null };
      } catch (err) {
        for (const recipient of mailboxes.keys()) outcome.set(recipient, this.#refused(recipient, err));
      }
    }
    return { outcomes: req.recipients.map((r) => outcome.get(r) as RecipientOutcome), relay };
  }

  /** The delivery's SmtpError says whether the failure is final; anything else is ours, and transient. */
  #refused(recipient: Address, err: unknown): RecipientOutcome {
    const reply = isSmtpError(err) ? err.reply : replies.localError();
    return { recipient, status: reply.code >= 500 ? 'permanent' : 'transient', diagnostic: replyText(reply), remoteMta: this.#hostname };
  }
}
