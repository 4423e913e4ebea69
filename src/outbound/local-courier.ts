// The courier for our own domains: relay recipients there go straight into their Maildir (as Postfix's local
// transport does), instead of a round trip through DNS and our own port 25, which may not be reachable from here.
import type { Address } from '../mail/address.js';
import { replies } from '../smtp/replies.js';
import { replyText, type Reply } from '../mail/reply.js';
import { isSmtpError, SmtpError } from '../smtp/smtp-error.js';
import type { Courier, MessageBody, RecipientOutcome, TransferRequest, TransferResult } from './courier.js';

/** What the courier needs of local delivery (inbound/maildir-delivery.ts): no SMTP session is involved. */
export interface LocalMailboxes {
  /** The mailbox of a local recipient; throws SmtpError (550 5.1.1 unknown, 550 5.7.1 not a local domain). */
  mailboxOf(to: Address): string;
  /**
   * Stores the message once per mailbox (Maildir or LMTP) and resolves once the stored copies are durable, with the
   * mailboxes the store refused (LMTP, per recipient); throws SmtpError when it stored none (451 4.3.0, 552 5.2.2…).
   */
  deliver(
    reversePath: Address | null,
    targets: readonly { readonly mailbox: string; readonly address: Address }[],
    body: MessageBody,
    log: Readonly<Record<string, string>>,
  ): Promise<{ readonly stored: readonly { readonly mailbox: string; readonly id: string }[]; readonly failed: readonly { readonly target: { readonly mailbox: string }; readonly reply: Reply }[] }>;
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
        // The stored message already starts with the Received header the relay added. One target per mailbox, with
        // the first recipient that maps to it.
        const targets = new Map<string, { mailbox: string; address: Address }>();
        for (const [address, mailbox] of mailboxes) if (!targets.has(mailbox)) targets.set(mailbox, { mailbox, address });
        const result = await this.#mailboxes.deliver(req.reversePath, [...targets.values()], req.openBody(), { id: req.id });
        const refused = new Map(result.failed.map((f) => [f.target.mailbox, f.reply]));
        const final = replies.delivered(result.stored[0]?.id ?? '');
        for (const [recipient, mailbox] of mailboxes) {
          const reply = refused.get(mailbox);
          outcome.set(recipient, reply === undefined ? { recipient, status: 'sent', diagnostic: replyText(final), remoteMta: this.#hostname } : this.#refused(recipient, new SmtpError(reply)));
        }
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
