// RCPT TO (RFC 5321 §4.1.1.3): one forward-path, accepted or refused by the server's delivery.
import { addressKey } from '../../../mail/address.js';
import { parseForwardPath } from '../../path-parser.js';
import { parseRcptParams } from '../../mail-params.js';
import { replies } from '../../replies.js';
import type { Handler } from '../handler.js';
import { sessionInfo } from '../session.js';
import { overClientLimit } from './client-limit.js';

export const rcpt: Handler = async (ctx, args) => {
  const tx = ctx.session.transaction;
  if (tx === null) return replies.badSequence('need MAIL before RCPT');
  const over = await overClientLimit(ctx, 'recipient');
  if (over !== null) return over;
  const { path, params } = parseForwardPath(args, { utf8: tx.params.smtputf8 });
  parseRcptParams(params);
  // RFC 5321 §4.5.3.1.8: past our limit the client must send the rest in another transaction.
  if (tx.recipients.length >= ctx.server.limits.maxRecipients) return replies.tooManyRecipients();
  const info = sessionInfo(ctx.session);
  await ctx.server.delivery.acceptRecipient(path, info, tx.info); // throws SmtpError to refuse
  // Greylisting comes after the delivery's own verdict: an unknown user gets 550 at once, not 451 then 550.
  const refused = await ctx.server.recipientPolicy?.check(info, tx.reversePath, path);
  if (refused != null) return refused;
  // The same recipient twice gets one copy.
  const key = addressKey(path);
  if (!tx.recipients.some((r) => addressKey(r) === key)) tx.recipients.push(path);
  return replies.recipientOk();
};
