// Relay recipients in our own domains go straight to their Maildir through the inbound delivery,
// instead of a round trip through DNS and our own port 25 (which may not even be reachable from here).
import type { Delivery, SessionInfo } from '../delivery.js';
import { replyText } from '../smtp/reply.js';
import { replies } from '../smtp/replies.js';
import { isSmtpError } from '../smtp/smtp-error.js';
import type { RecipientOutcome, TransferRequest, TransferResult } from './transfer.js';

/** The queue plays the client here; the inbound delivery only uses these facts for its logs. */
const LOCAL_SESSION: SessionInfo = {
  id: 'local',
  remoteAddress: '127.0.0.1',
  remotePort: 0,
  localAddress: '127.0.0.1',
  localPort: 0,
  heloName: 'localhost',
  esmtp: true,
  tls: null,
};

/** Outcome for a refusal: the delivery's SmtpError says whether it is final. */
function refused(recipient: TransferRequest['recipients'][number], err: unknown, host: string): RecipientOutcome {
  const reply = isSmtpError(err) ? err.reply : replies.localError();
  return { recipient, status: reply.code >= 500 ? 'permanent' : 'transient', diagnostic: replyText(reply), remoteMta: host };
}

/** One attempt: every recipient checked, then one Maildir copy per mailbox; never rejects. */
export async function localTransfer(req: TransferRequest, delivery: Delivery, hostname: string): Promise<TransferResult> {
  const outcomes: RecipientOutcome[] = [];
  const accepted: TransferRequest['recipients'][number][] = [];
  for (const recipient of req.recipients) {
    try {
      await delivery.acceptRecipient(recipient, LOCAL_SESSION);
      accepted.push(recipient);
    } catch (err) {
      outcomes.push(refused(recipient, err, hostname));
    }
  }
  if (accepted.length === 0) return { outcomes, relay: null };

  const envelope = { reversePath: req.reversePath, recipients: accepted, eightBit: req.eightBit, smtputf8: req.smtputf8, declaredSize: req.size };
  try {
    const sink = await delivery.open(envelope, LOCAL_SESSION);
    try {
      // The stored body already starts with the Received header the relay added.
      for await (const chunk of req.openBody()) await sink.write(chunk);
      const final = await sink.commit();
      for (const recipient of accepted) outcomes.push({ recipient, status: 'sent', diagnostic: replyText(final), remoteMta: hostname });
      return { outcomes, relay: { host: hostname, ip: 'local', tls: null } };
    } catch (err) {
      await sink.abort().catch(() => undefined);
      throw err;
    }
  } catch (err) {
    for (const recipient of accepted) outcomes.push(refused(recipient, isSmtpError(err) ? err : null, hostname));
    return { outcomes, relay: null };
  }
}
