// The local store that hands messages to an LMTP server (RFC 2033), such as Dovecot's: its replies decide, per recipient.
import { formatAddress, type Address } from '../mail/address.js';
import { isPositive, type Reply } from '../mail/reply.js';
import type { Logger } from '../observability/logger.js';
import { LmtpClient, type LmtpAddress } from '../smtp/client/lmtp-client.js';
import { SmtpError } from '../smtp/smtp-error.js';
import type { LocalStore, StoreLog, StoreMessage, StoreOpenOptions, StoreOutcome, StoreTarget, StoreTransaction } from './local-store.js';
import { LmtpSessions } from './lmtp-sessions.js';
import { passOn, unavailable, worstReply } from './lmtp-reply.js';
import type { Spool, SpoolFile } from './spool-file.js';

/** LMTP transactions opened at RCPT at once, at most; and how long one waits for its DATA. */
const MAX_PENDING = 128;
const PENDING_IDLE_MS = 60_000;

export interface LmtpStoreOptions {
  readonly address: LmtpAddress;
  /** How the endpoint is written in the config, for the log. */
  readonly endpoint: string;
  /** Our name in LHLO. */
  readonly hostname: string;
  /** Each wait on the server, in ms. */
  readonly timeout: number;
  /** RCPT TO: the mailbox name (Dovecot's user name) or the address as the client gave it. */
  readonly recipient: 'mailbox' | 'address';
  readonly logger: Logger;
  /** Where messages wait when they cannot be sent as they arrive (late header fields, or replay for a requeue). */
  readonly spool: Spool;
}

export class LmtpStore implements LocalStore {
  readonly #opts: LmtpStoreOptions;
  readonly #sessions: LmtpSessions;
  /** The LMTP transaction opened at the first RCPT of each SMTP transaction, until DATA takes it (or it idles out). */
  readonly #pending = new WeakMap<StoreTransaction, PendingTransaction>();
  /** LMTP transactions opened at RCPT and not yet taken by DATA (nor given up). */
  #open = 0;

  constructor(opts: LmtpStoreOptions) {
    this.#opts = opts;
    this.#sessions = new LmtpSessions(() => LmtpClient.connect({ address: opts.address, localHostname: opts.hostname, timeout: opts.timeout, logger: opts.logger }), opts.logger);
  }

  /**
   * RCPT: the LMTP server is asked about this recipient at once, in an LMTP transaction opened at the first RCPT
   * (MAIL FROM with the SMTP client's reverse-path and SIZE), so that an unknown user or a full mailbox (Dovecot
   * with lmtp_rcpt_check_quota = yes) gets its own refusal while the others are accepted.
   */
  async checkRecipient(target: StoreTarget, transaction: StoreTransaction): Promise<void> {
    let pending = this.#pending.get(transaction);
    if (pending === undefined || pending.broken) {
      // Transactions that never reach DATA (a client probing addresses, then QUIT) hold their session until their
      // timer: past a bound, recipients are no longer asked at RCPT but at DATA, so that they cannot take every
      // LMTP process of the server.
      pending?.drop();
      if (this.#open >= MAX_PENDING) return;
      pending = await this.#begin(transaction.reversePath, transaction.declaredSize, {});
      this.#pending.set(transaction, pending);
      this.#open += 1;
      pending.onEnd(() => (this.#open -= 1));
    }
    pending.touch(() => {
      if (this.#pending.get(transaction) === pending) this.#pending.delete(transaction);
    }, Math.min(this.#opts.timeout, PENDING_IDLE_MS));
    const r = await pending.rcpt(target);
    if (!isPositive(r)) throw new SmtpError(passOn(r));
  }

  async open(reversePath: Address | null, targets: readonly StoreTarget[], log: StoreLog, opts: StoreOpenOptions = {}): Promise<StoreMessage> {
    let pending = opts.transaction === undefined ? undefined : this.#pending.get(opts.transaction);
    if (opts.transaction !== undefined) this.#pending.delete(opts.transaction);
    pending?.taken();
    // A recipient the server accepted but the SMTP core then refused (greylisting comes after the delivery's check)
    // cannot be taken back in LMTP: the transaction starts over with exactly the message's recipients.
    const wanted = new Set(targets.map((t) => t.mailbox));
    if (pending !== undefined && !pending.broken && pending.accepted.some((t) => !wanted.has(t.mailbox))) {
      pending.release(this.#sessions, false);
      pending = undefined;
    }
    if (pending === undefined || pending.broken) {
      pending?.drop();
      pending = await this.#begin(reversePath, null, log);
    }
    const early: { target: StoreTarget; reply: Reply }[] = [];
    for (const t of targets) {
      const r = await pending.rcpt(t);
      if (!isPositive(r)) early.push({ target: t, reply: passOn(r) });
    }
    if (pending.accepted.length === 0) {
      pending.release(this.#sessions, false);
      throw new SmtpError(worstReply(early.map((f) => f.reply)));
    }
    const spooled = opts.lateHeaders === true || (opts.replayable === true && targets.length > 1);
    const message = new LmtpMessage(pending, early, log, this.#opts, this.#sessions);
    await message.start(spooled ? await this.#opts.spool.create() : null);
    return message;
  }

  async close(): Promise<void> {
    await this.#sessions.close();
  }

  /** A session (an idle one when there is one) with MAIL sent; throws SmtpError: MAIL refused, or the server unavailable. */
  async #begin(reversePath: Address | null, declaredSize: number | null, log: StoreLog): Promise<PendingTransaction> {
    const { logger, endpoint } = this.#opts;
    try {
      const { client, reply } = await this.#sessions.mail((c) => mailParams(c, reversePath, declaredSize), formatAddress(reversePath));
      if (!isPositive(reply)) {
        this.#sessions.give(client);
        throw new SmtpError(passOn(reply));
      }
      return new PendingTransaction(client, this.#opts.recipient);
    } catch (err) {
      const r = unavailable(err);
      if (r === null) throw err;
      logger.warn({ event: 'lmtp-unavailable', ...log, lmtp: endpoint, err: (err as Error).message }, 'LMTP server unavailable');
      throw new SmtpError(r, { cause: err });
    }
  }
}

function mailParams(client: LmtpClient, reversePath: Address | null, declaredSize: number | null): string[] {
  const params: string[] = [];
  if (declaredSize !== null && client.capabilities.has('SIZE')) params.push(`SIZE=${declaredSize}`);
  if (client.capabilities.eightBitMime) params.push('BODY=8BITMIME');
  const utf8 = reversePath !== null && /[^\x00-\x7f]/.test(formatAddress(reversePath));
  if (utf8 && client.capabilities.smtputf8) params.push('SMTPUTF8');
  return params;
}

/** One LMTP transaction between MAIL and DATA: the recipients asked, each once per mailbox, in order. */
class PendingTransaction {
  /** Replies to RCPT by mailbox. */
  readonly #replies = new Map<string, Reply>();
  /** The targets the server accepted, in RCPT order: the order of its replies after the dot. */
  readonly accepted: StoreTarget[] = [];
  broken = false;
  #timer: NodeJS.Timeout | null = null;
  #onEnd: (() => void) | null = null;

  constructor(
    readonly client: LmtpClient,
    private readonly recipient: 'mailbox' | 'address',
  ) {}

  async rcpt(target: StoreTarget): Promise<Reply> {
    const known = this.#replies.get(target.mailbox);
    if (known !== undefined) return known;
    const to = this.recipient === 'mailbox' ? target.mailbox : formatAddress(target.address);
    let r: Reply;
    try {
      r = await this.client.rcpt(to);
    } catch (err) {
      this.broken = true;
      this.client.close();
      const reply = unavailable(err);
      if (reply === null) throw err;
      throw new SmtpError(reply, { cause: err });
    }
    this.#replies.set(target.mailbox, r);
    if (isPositive(r)) this.accepted.push(target);
    return r;
  }

  /** Between RCPTs: an SMTP transaction that never reaches DATA must not hold the LMTP session for ever. */
  touch(forget: () => void, ms: number): void {
    this.hold();
    this.#timer = setTimeout(() => {
      forget();
      this.drop();
    }, ms);
    this.#timer.unref();
  }

  hold(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  /** DATA takes the transaction: no longer waiting. */
  taken(): void {
    this.hold();
    this.#ended();
  }

  /** Called once, when the transaction is handed to DATA or given up. */
  onEnd(f: () => void): void {
    this.#onEnd = f;
  }

  #ended(): void {
    const f = this.#onEnd;
    this.#onEnd = null;
    f?.();
  }

  /** The session back to the pool once its transaction is over (RSET first); a broken one is dropped. */
  release(sessions: LmtpSessions, transactionOver: boolean): void {
    this.hold();
    this.#ended();
    if (this.broken) this.client.close();
    else if (transactionOver) sessions.give(this.client);
    else sessions.reset(this.client);
  }

  drop(): void {
    this.hold();
    this.#ended();
    this.broken = true;
    void this.client.quit();
  }
}

/** One message on its way to the LMTP server: streamed as it arrives, or spooled and sent at commit. */
class LmtpMessage implements StoreMessage {
  #spool: SpoolFile | null = null;
  #state: 'open' | 'done' = 'open';
  #writeError: unknown = null;
  #bytes = 0;

  constructor(
    private readonly tx: PendingTransaction,
    private readonly early: readonly { target: StoreTarget; reply: Reply }[],
    private readonly log: StoreLog,
    private readonly opts: LmtpStoreOptions,
    private readonly sessions: LmtpSessions,
  ) {}

  /** Streaming: DATA now, so the text goes through as it arrives. Spooling: DATA waits for commit. */
  async start(spool: SpoolFile | null): Promise<void> {
    this.#spool = spool;
    if (spool === null) await this.#data();
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.#writeError !== null || this.#state !== 'open') return;
    this.#bytes += chunk.length;
    try {
      if (this.#spool !== null) await this.#spool.write(chunk);
      else await this.tx.client.write(chunk);
    } catch (err) {
      this.#writeError = err;
    }
  }

  async commit(opts: { prefix?: Buffer; folder?: string } = {}): Promise<StoreOutcome> {
    if (this.#state !== 'open') throw new Error('commit of a message already done');
    const spool = this.#spool;
    try {
      if (this.#writeError !== null) throw this.#writeError;
      if (spool === null && opts.prefix !== undefined && opts.prefix.length > 0) throw new Error('LMTP: a prefix needs a spooled message (lateHeaders)');
      if (spool !== null) {
        await spool.close();
        await this.#data();
        if (opts.prefix !== undefined) {
          this.#bytes += opts.prefix.length;
          await this.tx.client.write(opts.prefix);
        }
        for await (const chunk of spool.read()) await this.tx.client.write(chunk);
      }
      const outcome = await this.#finish();
      this.#state = 'done';
      if (outcome.failed.length > 0 && spool !== null) return { ...outcome, replay: () => replay(spool, opts.prefix) };
      return outcome;
    } catch (err) {
      await this.abort();
      const r = unavailable(err);
      if (r === null) throw err;
      this.opts.logger.warn({ event: 'lmtp-unavailable', ...this.log, lmtp: this.opts.endpoint, err: (err as Error).message }, 'LMTP server unavailable');
      throw new SmtpError(r, { cause: err });
    }
  }

  /**
   * Before a commit: the connection is dropped without the final dot, so the server stores nothing (RFC 5321
   * §4.1.1.4: only the dot completes the data). After one: the spool, kept for a replay, goes.
   */
  async abort(): Promise<void> {
    if (this.#state === 'open') {
      this.#state = 'done';
      this.tx.broken = true;
      this.tx.client.close();
    }
    await this.#spool?.remove();
  }

  async #data(): Promise<void> {
    const r = await this.tx.client.data();
    if (r.code !== 354) throw new SmtpError(passOn(r));
  }

  /** The dot, then a reply per accepted recipient; one lost to a broken connection counts as 451 (not stored). */
  async #finish(): Promise<StoreOutcome> {
    const accepted = this.tx.accepted;
    const got: Reply[] = [];
    let lost: unknown = null;
    try {
      await this.tx.client.finish((r) => got.push(r));
    } catch (err) {
      if (unavailable(err) === null) throw err;
      lost = err;
      this.tx.broken = true;
    } finally {
      this.#state = 'done';
    }
    if (lost !== null && got.length === 0) throw lost;
    const stored = [];
    const failed = [...this.early];
    for (const [i, target] of accepted.entries()) {
      const r = got[i];
      if (r !== undefined && isPositive(r)) stored.push({ mailbox: target.mailbox, folder: null, id: r.lines.join(' '), size: this.#bytes });
      else failed.push({ target, reply: r === undefined ? (unavailable(lost) as Reply) : passOn(r) });
    }
    this.tx.release(this.sessions, true);
    if (stored.length === 0) throw new SmtpError(worstReply(failed.map((f) => f.reply)));
    return { stored, failed };
  }
}

async function* replay(spool: SpoolFile, prefix: Buffer | undefined): AsyncIterable<Buffer> {
  if (prefix !== undefined && prefix.length > 0) yield prefix;
  yield* spool.read();
}
