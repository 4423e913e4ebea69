// DATA (RFC 5321 §4.1.1.4): 354, read the message text to its final dot, hand it to the delivery, answer once durable.
import { isSmtpError, SmtpError } from '../../smtp-error.js';
import { replies } from '../../replies.js';
import type { Reply } from '../../../mail/reply.js';
import { readData } from '../../wire/read-data.js';
import { isConnectionError } from '../../wire/connection-errors.js';
import type { MessageSink } from '../../../delivery.js';
import { replyClass } from '../../../observability/metrics.js';
import { replyOf, type CommandContext, type Handler, type Outcome } from '../handler.js';
import { envelopeOf, resetTransaction, sessionInfo, type Transaction } from '../session.js';
import { HopCounter } from '../hop-counter.js';
import { receivedHeader } from '../trace-headers.js';

export const data: Handler = async (ctx, args) => {
  const { session, server } = ctx;
  const tx = session.transaction;
  if (args.trim() !== '') return replies.syntax('DATA takes no argument');
  if (tx === null || tx.recipients.length === 0) return replies.badSequence('need RCPT before DATA');
  // Whatever happens from here, this transaction is over (§4.1.1.4: the state is cleared after the final reply).
  resetTransaction(session);
  const outcome = await transfer(ctx, tx);
  server.metrics.messages.inc({ server: server.name, reply: replyClass(replyOf(outcome).code) });
  return outcome;
};

/** The message transfer proper, from opening the delivery to its durable commit; the final reply. */
async function transfer(ctx: CommandContext, tx: Transaction): Promise<Outcome> {
  const { session, server } = ctx;
  // Open the delivery before 354, so that a fault it can see at once (a mailbox directory that cannot be made) is a
  // plain 451 instead of a message read for nothing. Faults found later (creating the file) are the commit's 451.
  let sink: MessageSink;
  try {
    sink = await server.delivery.open(envelopeOf(tx), sessionInfo(session));
  } catch (err) {
    return failureReply(ctx.server.logger, err);
  }

  let stored = false;
  try {
    // RFC 2920 §3.1: DATA ends a pipelined group; the text may only follow our 354. Text already here means the
    // client did not wait (spamware, or a smuggling attempt): refuse it all and hang up rather than guess.
    if (ctx.reader.buffered > 0) {
      const reason = 'message text sent before the 354 reply';
      server.logger.warn({ event: 'sync-error', session: session.id, client: session.remoteAddress, reason }, `protocol synchronization error: ${reason}`);
      return { reply: replies.synchronisation(reason), then: 'close' };
    }
    await ctx.send(replies.startData());
    // A failed write is remembered, not thrown: the text must still be read to its final dot, or its
    // remaining lines would be taken as commands (and a message could smuggle a second transaction).
    let writeError: unknown = null;
    let looping = false;
    const hops = new HopCounter();
    let bytes = 0;
    const write = async (chunk: Buffer): Promise<void> => {
      if (writeError !== null || looping) return;
      bytes += chunk.length;
      hops.feed(chunk);
      if (hops.looping) {
        looping = true;
        return;
      }
      try {
        await sink.write(chunk);
      } catch (err) {
        writeError = err;
      }
    };
    await write(Buffer.from(receivedHeader({ session, transaction: tx, hostname: server.hostname, date: server.now() })));
    // Each block may take timeouts.data, the whole text twice that: a byte a minute cannot hold the session forever.
    const deadline = Date.now() + 2 * server.timeouts.data;
    for await (const chunk of readData(ctx.reader, { maxBytes: server.limits.maxMessageSize, timeoutMs: server.timeouts.data, deadline })) {
      await write(chunk);
    }
    if (looping) return replies.tooManyHops();
    if (writeError !== null) return failureReply(server.logger, writeError);
    const committing = performance.now();
    const final = await sink.commit(); // resolves only once every copy is flushed to disk
    stored = true;
    server.metrics.commitSeconds.observe({ server: server.name }, (performance.now() - committing) / 1000);
    server.metrics.messageBytes.inc({ server: server.name }, bytes);
    session.messages += 1;
    session.idleCommands = 0; // a client that delivers mail is not just holding the connection
    return final;
  } catch (err) {
    // Data errors (552 too big, 550 bare line ending) carry their reply; a lost connection or a timeout propagates.
    if (isSmtpError(err)) return err.reply;
    if (isConnectionError(err)) throw err;
    return failureReply(server.logger, err);
  } finally {
    if (!stored) await sink.abort().catch(() => undefined);
  }
}

function failureReply(logger: { error: (o: object, m: string) => void }, err: unknown): Reply {
  if (err instanceof SmtpError) return err.reply;
  logger.error({ err }, 'delivery failed');
  return replies.storageFailure();
}
