// Local delivery: the mailbox of a local address, and a message handed to the local store (local-store.ts): Maildirs
// written here, or an LMTP server. The MX's sessions (inbound-delivery.ts) and the relay's recipients in our own
// domains (outbound/local-courier.ts) both deliver here.
import type { GroupFsync } from '../fs/group-fsync.js';
import { errorCode } from '../fs/error-code.js';
import type { Logger } from '../observability/logger.js';
import type { Address } from '../mail/address.js';
import { replies } from '../smtp/replies.js';
import type { Reply } from '../mail/reply.js';
import { isSmtpError, SmtpError } from '../smtp/smtp-error.js';
import type { LocalStore, StoreLog, StoreMessage, StoreOpenOptions, StoreOutcome, StoreTarget, StoreTransaction } from './local-store.js';
import type { Mailboxes } from './mailboxes.js';
import { MaildirNamer } from './maildir-name.js';
import { MaildirQuota } from './maildir-quota.js';
import { MaildirStore } from './maildir-store.js';
import { groupModes, MaildirWriter } from './maildir-writer.js';

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
  /** Another store than the Maildirs written here (the LMTP store); the options below are then unused. */
  readonly store?: LocalStore;
  /** Each mailbox's quota in bytes, 0 for none (inbound.quota and [inbound.quotas]). */
  readonly quotaOf?: (mailbox: string) => number;
  /** inbound.maildir_group's gid. */
  readonly group?: number;
  /** inbound.maildir_group_write. */
  readonly groupWrite?: boolean;
}

/** What each log line of one message carries: the session id (MX) or the queue id (relay). */
export type LogContext = StoreLog;

export class MaildirDelivery {
  readonly #logger: Logger;
  readonly #store: LocalStore;
  #mailboxes: Mailboxes;
  /**
   * Whether a message can be put into a Maildir++ folder of our choosing (the Maildirs written here); an LMTP server
   * files each message itself (Dovecot: Sieve, lmtp_save_to_detail_mailbox), so routed folders are not asked of it.
   */
  readonly choosesFolders: boolean;

  constructor(opts: MaildirDeliveryOptions) {
    this.#logger = opts.logger;
    this.choosesFolders = opts.store === undefined;
    this.#mailboxes = opts.mailboxes;
    this.#store = opts.store ?? makeMaildirStore(opts);
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

  /** RCPT: the store's own check of an accepted mailbox (quota; the LMTP server's verdict); throws SmtpError. */
  async checkRecipient(target: StoreTarget, transaction: StoreTransaction, log: LogContext): Promise<void> {
    try {
      await this.#store.checkRecipient(target, transaction);
    } catch (err) {
      if (isSmtpError(err)) throw err;
      throw this.#storageFailure(log, err);
    }
  }

  /**
   * Starts one message for these targets (distinct mailboxes). The store adds the trace header of the final delivery
   * (Return-Path, RFC 5321 §4.4; an LMTP server adds its own). A storage failure is logged and thrown as 451 4.3.0.
   */
  async open(reversePath: Address | null, targets: readonly StoreTarget[], log: LogContext, opts: StoreOpenOptions = {}): Promise<StoreMessage> {
    try {
      return await this.#store.open(reversePath, targets, log, opts);
    } catch (err) {
      if (isSmtpError(err)) throw err;
      throw this.#storageFailure(log, err);
    }
  }

  /**
   * Makes the message durable: resolves once every copy the store took is durable, with the ones it refused (LMTP,
   * per recipient); throws SmtpError when it took none (451 4.3.0 for a storage failure, the store's own refusal).
   */
  async commit(message: StoreMessage, log: LogContext, opts: { prefix?: Buffer; folder?: string } = {}): Promise<StoreOutcome> {
    let outcome: StoreOutcome;
    try {
      outcome = await message.commit(opts);
    } catch (err) {
      await message.abort();
      if (isSmtpError(err)) {
        this.#logger.info({ event: 'refused', ...log, reply: err.reply.lines.join(' '), code: err.reply.code }, 'message refused by the store');
        throw err;
      }
      throw this.#storageFailure(log, err);
    }
    for (const c of outcome.stored) this.#logger.info({ event: 'delivered', ...log, mailbox: c.mailbox, ...(c.folder === null ? {} : { folder: c.folder }), file: c.id, size: c.size }, 'delivered');
    for (const f of outcome.failed) this.#logger.warn({ event: 'not-delivered', ...log, mailbox: f.target.mailbox, code: f.reply.code, reply: f.reply.lines.join(' ') }, 'store refused a recipient after the data');
    return outcome;
  }

  /** A whole stored message for these targets (the relay's local recipients): per target, or throws SmtpError for all. */
  async deliver(reversePath: Address | null, targets: readonly StoreTarget[], body: Iterable<Buffer> | AsyncIterable<Buffer>, log: LogContext): Promise<StoreOutcome> {
    const message = await this.open(reversePath, targets, log);
    try {
      for await (const chunk of body) await message.write(chunk);
    } catch (err) {
      await message.abort();
      throw err;
    }
    try {
      return await this.commit(message, log);
    } finally {
      await message.abort(); // nothing left to drop after a commit but a spool
    }
  }

  /** Refuses new messages and waits for what is in flight. */
  async close(): Promise<void> {
    await this.#store.close();
  }

  #storageFailure(log: LogContext, err: unknown): SmtpError {
    this.#logger.warn({ event: 'storage-failure', ...log, code: errorCode(err) ?? 'unknown', err: String(err) }, 'Maildir storage failure');
    return new SmtpError(replies.storageFailure(), { cause: err });
  }
}

/** The 250 for a stored message: the first copy's name (Maildir file, or the LMTP server's words). */
export function deliveredReply(outcome: StoreOutcome): Reply {
  return replies.delivered(outcome.stored[0]?.id ?? '');
}

function makeMaildirStore(opts: MaildirDeliveryOptions): MaildirStore {
  const namer = new MaildirNamer({ hostname: opts.hostname, pid: opts.pid, now: opts.now });
  const writer = new MaildirWriter({
    root: opts.root,
    namer,
    ...(opts.dirSync === undefined ? {} : { dirSync: opts.dirSync }),
    ...(opts.group === undefined ? {} : { group: opts.group, groupWrite: opts.groupWrite === true }),
  });
  const { quotaOf } = opts;
  const quota = quotaOf === undefined ? null : new MaildirQuota({ root: opts.root, quotaOf, now: opts.now, logger: opts.logger, ...(opts.group === undefined ? {} : { fileMode: groupModes(opts.groupWrite === true).file }) });
  return new MaildirStore(writer, quota, opts.logger);
}
