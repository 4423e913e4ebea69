// Recipients a store refused after the data, handed to another Delivery (the relay's queue) instead of failing them all.
import type { Delivery, SessionInfo } from '../delivery.js';
import type { Address } from '../mail/address.js';
import { isPositive, replyText } from '../mail/reply.js';

/**
 * Queues the message again for these recipients; resolves once the queue holds it durably, else throws. The relay
 * then delivers it as any message for our own domains (through the same store, with its retries), and bounces it
 * to the sender if the store refuses it for good.
 */
export type Requeue = (reversePath: Address | null, recipients: readonly Address[], body: AsyncIterable<Buffer>) => Promise<void>;

/** The session the relay's Delivery sees for a requeued message: ourselves, on loopback. */
const SELF: SessionInfo = { id: 'requeue', remoteAddress: '127.0.0.1', remotePort: 0, localAddress: '127.0.0.1', localPort: 0, heloName: 'localhost', esmtp: true, tls: null };

/** A Requeue through a Delivery: the relay's (app.ts wires `relay.delivery`). */
export function requeueThrough(delivery: Delivery): Requeue {
  return async (reversePath, recipients, body) => {
    await delivery.acceptSender?.(reversePath, SELF);
    for (const r of recipients) await delivery.acceptRecipient(r, SELF);
    const sink = await delivery.open({ reversePath, recipients, eightBit: true, smtputf8: false, declaredSize: null }, SELF);
    try {
      for await (const chunk of body) await sink.write(chunk);
      const final = await sink.commit();
      if (!isPositive(final)) throw new Error(`requeue refused: ${replyText(final)}`);
    } catch (err) {
      await sink.abort();
      throw err;
    }
  };
}
