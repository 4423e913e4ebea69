// Local delivery: the mailbox of a local address, and a message written into Maildirs. The MX's sessions
// (inbound-delivery.ts) and the relay's recipients in our own domains (outbound/local-courier.ts) both deliver here.
import type { GroupFsync } from '../fs/group-fsync.js';
import { errorCode } from '../fs/error-code.js';
import type { Logger } from '../observability/logger.js';
import { formatAddress, type Address } from '../mail/address.js';
import { replies } from '../smtp/replies.js';
import type { Reply } from '../mail/reply.js';
import { SmtpError } from '../smtp/smtp-error.js';
import type { Mailboxes } from './mailboxes.js';
import { MaildirNamer } from './maildir-name.js';
import { MaildirWriter, type MaildirMessage } from './maildir-writer.js';

export interface MaildirDeliveryOptions {
  /** <data_dir>/<maildir_root>, absolute. */
  readonly root: string;
  readonly hostname: string;
  readonly pid: number;
  readonly now: () => Date;
  readonly logger: Logger;
  readonly mailboxes: Mailboxes;
  /** The folders' fsyncs, grouped (app.ts passes one that times them for the metrics). */
  readonly dirSync?: GroupFsync;
}

/** What each log line of one message carries: the session id (MX) or the queue id (relay). */
export type LogContext = Readonly<Record<string, string>>;

export class MaildirDelivery {
  readonly #logger: Logger;
  readonly #writer: MaildirWriter;
  #mailboxes: Mailboxes;

  constructor(opts: MaildirDeliveryOptions) {
    this.#logger = opts.logger;
    this.#mailboxes = opts.mailboxes;
    const namer = new MaildirNamer({ hostname: opts.hostname, pid: opts.pid, now: opts.now });
    this.#writer = new MaildirWriter({ root: opts.root, namer, ...(opts.dirSync === undefined ? {} : { dirSync: opts.dirSync }) });
  }

  /** SIGHUP: the users and local domains as reloaded. */
  setMailboxes(m: Mailboxes): void {
    this.#mailboxes = m;
  }

  isLocalDomain(domain: string): boolean {
    return this.#mailboxes.isLocalDomain(domain);
  }

  /** The mailbox of a recipient, or null (no lookup rule beyond Mailboxes.lookup). */
  lookup(to: Address): string | null {
    return this.#mailboxes.lookup(to);
  }

  /** The mailbox of a local recipient; throws SmtpError 550 5.7.1 for another domain (relaying), 550 5.1.1 for no such user. */
  mailboxOf(to: Address): string {
    // The bare <postmaster> (domain "") must always be accepted (RFC 5321 §4.1.1.3); any other
    // non-local domain, address literals included, would be relaying, which the MX never does.
    const bare = to.domain === '' && to.local.toLowerCase() === 'postmaster';
    if (!bare && !this.#mailboxes.isLocalDomain(to.domain)) throw new SmtpError(replies.relayDenied());
    const mailbox = this.#mailboxes.lookup(to);
    if (mailbox === null) throw new SmtpError(replies.unknownMailbox());
    return mailbox;
  }

  /**
   * Starts one message for these mailboxes (distinct names) with its Return-Path header: the final delivery adds it,
   * with the reverse-path, "<>" for the null one (RFC 5321 §4.4). A storage failure is logged and thrown as 451 4.3.0.
   */
  async open(reversePath: Address | null, mailboxes: readonly string[], log: LogContext): Promise<MaildirMessage> {
    const header = Buffer.from(`Return-Path: <${formatAddress(reversePath)}>\n`, 'utf8');
    try {
      return await this.#writer.open(mailboxes, header);
    } catch (err) {
      throw this.#storageFailure(log, err);
    }
  }

  /** Makes the message durable and answers 250 only then (every copy and its new/ flushed); else 451 4.3.0, nothing left in tmp/. */
  async commit(message: MaildirMessage, log: LogContext, opts: { prefix?: Buffer; folder?: string } = {}): Promise<Reply> {
    let copies;
    try {
      copies = await message.commit(opts);
    } catch (err) {
      await message.abort();
      throw this.#storageFailure(log, err);
    }
    for (const c of copies) this.#logger.info({ event: 'delivered', ...log, mailbox: c.mailbox, ...(c.folder === null ? {} : { folder: c.folder }), file: c.name, size: c.size }, 'delivered');
    return replies.delivered(copies[0]?.name ?? '');
  }

  /** A whole stored message into these mailboxes (the relay's local recipients): the final 250, or throws SmtpError. */
  async deliver(reversePath: Address | null, mailboxes: readonly string[], body: Iterable<Buffer> | AsyncIterable<Buffer>, log: LogContext): Promise<Reply> {
    const message = await this.open(reversePath, mailboxes, log);
    try {
      for await (const chunk of body) await message.write(chunk);
    } catch (err) {
      await message.abort();
      throw err;
    }
    return this.commit(message, log);
  }

  /** Refuses new messages and waits for directory fsyncs in flight. */
  async close(): Promise<void> {
    await this.#writer.close();
  }

  #storageFailure(log: LogContext, err: unknown): SmtpError {
    this.#logger.warn({ event: 'storage-failure', ...log, code: errorCode(err) ?? 'unknown', err: String(err) }, 'Maildir storage failure');
    return new SmtpError(replies.storageFailure(), { cause: err });
  }
}
