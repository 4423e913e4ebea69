// The local store that writes Maildirs itself (maildir-writer.ts), with per-mailbox quotas (maildir-quota.ts).
import { formatAddress, type Address } from '../mail/address.js';
import type { Logger } from '../observability/logger.js';
import { replies } from '../smtp/replies.js';
import { SmtpError } from '../smtp/smtp-error.js';
import type { LocalStore, StoreLog, StoreMessage, StoreOutcome, StoreTarget, StoreTransaction } from './local-store.js';
import type { MaildirQuota } from './maildir-quota.js';
import type { MaildirMessage, MaildirWriter } from './maildir-writer.js';

export class MaildirStore implements LocalStore {
  constructor(
    private readonly writer: MaildirWriter,
    /** null: no mailbox has a quota. */
    private readonly quota: MaildirQuota | null,
    private readonly logger: Logger,
  ) {}

  /**
   * RCPT: a mailbox over its quota, or one the declared SIZE would take over it, is refused with 552 5.2.2 (RFC 1870
   * §6.1 and RFC 3463 "mailbox full"): permanent, as Postfix and Dovecot answer, so the sender bounces at once.
   */
  async checkRecipient(target: StoreTarget, transaction: StoreTransaction): Promise<void> {
    if (this.quota === null || !this.quota.has(target.mailbox)) return;
    // Without SIZE, a mailbox with no octet left cannot take any message.
    if (await this.quota.fits(target.mailbox, Math.max(transaction.declaredSize ?? 1, 1))) return;
    this.logger.info({ event: 'over-quota', mailbox: target.mailbox, declared: transaction.declaredSize, at: 'rcpt' }, 'recipient refused: mailbox full');
    throw new SmtpError(replies.mailboxFull());
  }

  /** The Return-Path header first (RFC 5321 §4.4: the final delivery adds it), then the text as written. */
  async open(reversePath: Address | null, targets: readonly StoreTarget[], log: StoreLog): Promise<StoreMessage> {
    const header = Buffer.from(`Return-Path: <${formatAddress(reversePath)}>\n`, 'utf8');
    const message = await this.writer.open(targets.map((t) => t.mailbox), header);
    return new MaildirStoreMessage(message, targets, header.length, this.quota, this.logger, log);
  }

  close(): Promise<void> {
    return this.writer.close();
  }
}

class MaildirStoreMessage implements StoreMessage {
  #bytes = 0;

  constructor(
    private readonly message: MaildirMessage,
    private readonly targets: readonly StoreTarget[],
    private readonly headLength: number,
    private readonly quota: MaildirQuota | null,
    private readonly logger: Logger,
    private readonly log: StoreLog,
  ) {}

  async write(chunk: Buffer): Promise<void> {
    this.#bytes += chunk.length;
    await this.message.write(chunk);
  }

  /**
   * The quotas are checked again with the real size (552 5.2.2 when it fits no mailbox). When it still fits some,
   * every mailbox gets its copy: the ones now over their quota take it as the last message allowed over the limit
   * (Dovecot's quota_grace does the same), since a per-recipient failure after DATA would mean a bounce for a
   * recipient we said 250 to at RCPT.
   */
  async commit(opts: { prefix?: Buffer; folder?: string } = {}): Promise<StoreOutcome> {
    const size = this.headLength + (opts.prefix?.length ?? 0) + this.#bytes;
    const quota = this.quota;
    if (quota !== null) {
      const limited = this.targets.filter((t) => quota.has(t.mailbox));
      const over: string[] = [];
      for (const t of limited) if (!(await quota.fits(t.mailbox, size))) over.push(t.mailbox);
      if (over.length === this.targets.length) {
        await this.message.abort();
        this.logger.info({ event: 'over-quota', ...this.log, mailboxes: over, size, at: 'data' }, 'message refused: mailbox full');
        throw new SmtpError(replies.mailboxFull());
      }
      if (over.length > 0) this.logger.warn({ event: 'quota-grace', ...this.log, mailboxes: over, size }, 'delivered over quota: other recipients took the message');
    }
    const copies = await this.message.commit(opts);
    if (quota !== null) await Promise.all(copies.map((c) => quota.record(c.mailbox, c.size)));
    return { stored: copies.map((c) => ({ mailbox: c.mailbox, folder: c.folder, id: c.name, size: c.size })), failed: [] };
  }

  abort(): Promise<void> {
    return this.message.abort();
  }
}
