// The per-client rate limits checked by MAIL and RCPT: past one, 421 4.7.0 and the end of the session.
import { replies } from '../../replies.js';
import type { CommandContext, Outcome } from '../handler.js';

/** Counts one MAIL or RCPT for the client; the outcome ending the session when that is one too many, else null. */
export async function overClientLimit(ctx: CommandContext, what: 'message' | 'recipient'): Promise<Outcome | null> {
  const limits = ctx.server.clientLimits;
  if (limits === null) return null;
  const { remoteAddress, id } = ctx.session;
  const limit = await (what === 'message' ? limits.message(remoteAddress) : limits.recipient(remoteAddress));
  if (limit === null) return null;
  ctx.server.logger.warn({ event: 'client-limit', session: id, client: remoteAddress, limit }, `client limit reached: ${limit}`);
  return { reply: replies.clientLimit(limit), then: 'close' };
}
