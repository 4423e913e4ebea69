// The relay's Delivery: every recipient domain is accepted, and a 250 means the message is a durable queue item.
import type { Delivery, Envelope, MessageSink, PreparedMessage, SessionInfo } from '../delivery.js';
import type { Logger } from '../observability/logger.js';
import { formatAddress, type Address } from '../mail/address.js';
import { replies } from '../smtp/replies.js';
import { reply, type Reply } from '../mail/reply.js';
import { SmtpError } from '../smtp/smtp-error.js';
import { newRecipient, recipientKey, type QueueItem, type QueueRecipient } from './queue-item.js';
import type { MessageWriter, QueueStore } from './queue-store.js';
import type { DkimSigner, MessageSigning } from '../mailauth/dkim-signer.js';

/** What the delivery needs of the store (tests pass one that fails on purpose). */
export type DeliveryStore = Pick<QueueStore, 'newId' | 'createMessage'>;

export interface OutboundDeliveryOptions {
  readonly store: DeliveryStore;
  /** Takes each committed item into the schedule. */
  readonly enqueue: (item: QueueItem) => void;
  readonly logger: Logger;
  readonly now: () => number;
  /** Signs mail whose From: domain has a DKIM key, before its 250 (null: no signing). */
  readonly signer?: DkimSigner | null;
}

/**
 * The bare <postmaster> (RFC 5321 §4.1.1.3) names this host's own postmaster, and the relay delivers nothing
 * locally. Built here because the shared catalogue has no reply for it.
 */
const noLocalPostmaster = (): Reply => reply(550, '5.1.1', 'This relay has no local postmaster: give a domain');

export class OutboundDelivery implements Delivery {
  readonly #store: DeliveryStore;
  readonly #enqueue: (item: QueueItem) => void;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #signer: DkimSigner | null;

  constructor(opts: OutboundDeliveryOptions) {
    this.#signer = opts.signer ?? null;
    this.#store = opts.store;
    this.#enqueue = opts.enqueue;
    this.#logger = opts.logger;
    this.#now = opts.now;
  }

  /** Any domain or address literal: this server listens on loopback only and relays for local programs. */
  async acceptRecipient(to: Address, _session: SessionInfo): Promise<void> {
    if (to.domain === '') throw new SmtpError(noLocalPostmaster());
  }

  async open(envelope: Envelope, session: SessionInfo): Promise<MessageSink> {
    if (envelope.recipients.some((r) => r.domain === '')) throw new SmtpError(noLocalPostmaster());
    const envelopeItem = queueItem(this.#store.newId(), envelope, this.#now());
    const id = envelopeItem.id;
    let body: MessageWriter;
    try {
      body = await this.#store.createMessage(envelopeItem);
    } catch (err) {
      this.#logger.error({ event: 'queue-write-failed', id, session: session.id, err }, 'cannot create a queue file');
      throw new SmtpError(replies.storageFailure(), { cause: err });
    }
    const signing = this.#signer?.start() ?? null;
    return new QueueSink({ envelope: envelopeItem, session, body, signing, enqueue: this.#enqueue, logger: this.#logger });
  }
}

interface SinkParts {
  /** The item as queued, but for its size (known at commit). */
  readonly envelope: QueueItem;
  readonly session: SessionInfo;
  readonly body: MessageWriter;
  /** The DKIM signature being computed as the message streams by, or null. */
  readonly signing: MessageSigning | null;
  readonly enqueue: (item: QueueItem) => void;
  readonly logger: Logger;
}

/**
 * One message on its way into the queue: write* then commit (durable, 250) or abort (nothing left); or prepare
 * (durable, not yet scheduled) then release or discard, for a delivery that must agree with another (README, Addresses).
 */
class QueueSink implements MessageSink {
  readonly #p: SinkParts;
  #state: 'open' | 'committing' | 'prepared' | 'committed' | 'aborted' = 'open';

  constructor(parts: SinkParts) {
    this.#p = parts;
  }

  /** An I/O error is kept by the writer and reported by commit(): the core reads DATA to its end before it commits. */
  async write(chunk: Buffer): Promise<void> {
    if (this.#state !== 'open') return;
    this.#p.signing?.write(chunk);
    await this.#p.body.write(chunk);
  }

  async commit(): Promise<Reply> {
    const prepared = await this.prepare();
    prepared.release();
    return prepared.reply;
  }

  async prepare(): Promise<PreparedMessage> {
    const { session, logger } = this.#p;
    let { id } = this.#p.envelope;
    if (this.#state !== 'open') throw new Error(`queue sink ${id} is ${this.#state}`);
    this.#state = 'committing';
    let item: QueueItem;
    try {
      // Signed once, before the 250: the queue file holds the signed message, and every retry sends the same bytes.
      const prefix = await this.#signature(id);
      const stored = await this.#p.body.finish({ prefix }); // <id>.msg, file and directory flushed: the commit point
      id = stored.id;
      item = { ...this.#p.envelope, id, size: stored.size };
      this.#state = 'prepared';
    } catch (err) {
      this.#state = 'aborted';
      logger.error({ event: 'queue-write-failed', id, session: session.id, err }, 'cannot store the message in the queue');
      // Nothing of a refused message may stay: the client will send it again after our 451.
      await this.#p.body.discard().catch(() => undefined);
      throw new SmtpError(replies.storageFailure(), { cause: err });
    }
    return {
      reply: replies.queued(id),
      release: () => {
        if (this.#state !== 'prepared') return;
        this.#state = 'committed';
        this.#p.enqueue(item);
        logger.info(
          { event: 'queued', id, session: session.id, from: item.from, recipients: item.recipients.map((r) => r.address), size: item.size },
          'message queued',
        );
      },
      discard: () => this.abort(),
    };
  }

  /**
   * The DKIM-Signature fields to put before the message (empty when it is not signed). A From: domain without a key
   * is ordinary (debug); a header section too large to hold is not signed whatever its From: (warning: it may be mail
   * of a signing domain leaving unsigned).
   */
  async #signature(id: string): Promise<Buffer> {
    const signing = this.#p.signing;
    if (signing === null) return Buffer.alloc(0);
    const signed = await signing.finish();
    const { logger } = this.#p;
    if (signed.skipped === 'header-too-large') logger.warn({ event: 'dkim-skipped', id, reason: signed.skipped }, 'message not signed: its header section is too large to sign');
    else if (signed.skipped !== null) logger.debug({ event: 'dkim-skipped', id, reason: signed.skipped }, 'message not signed');
    else logger.debug({ event: 'dkim-signed', id, domain: signed.domain }, 'message signed');
    return Buffer.from(signed.fields);
  }

  /** Before commit, or after prepare without release: removes the file (a prepared message is on disk already). */
  async abort(): Promise<void> {
    if (this.#state === 'committed' || this.#state === 'committing' || this.#state === 'aborted') return;
    this.#state = 'aborted';
    await this.#p.body.discard().catch((err: unknown) => this.#p.logger.warn({ event: 'queue-cleanup-failed', id: this.#p.envelope.id, err }, 'cannot remove an aborted message'));
  }
}

/** The queue item for `envelope`, every recipient pending; its size is the message's, known at commit. */
function queueItem(id: string, envelope: Envelope, arrival: number): QueueItem {
  // The same mailbox twice would be tried twice and confuse the matching of outcomes: keep one.
  const recipients = new Map<string, QueueRecipient>();
  for (const to of envelope.recipients) {
    const key = recipientKey(to);
    if (!recipients.has(key)) recipients.set(key, newRecipient(formatAddress(to), to));
  }
  return {
    id,
    from: formatAddress(envelope.reversePath),
    reversePath: envelope.reversePath === null ? null : { local: envelope.reversePath.local, domain: envelope.reversePath.domain },
    created: new Date(arrival).toISOString(),
    size: 0,
    eightBit: envelope.eightBit,
    smtputf8: envelope.smtputf8,
    recipients: [...recipients.values()],
  };
}
