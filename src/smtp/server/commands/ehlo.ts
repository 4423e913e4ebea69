// EHLO (RFC 5321 §4.1.1.1): greeting plus the list of extensions we honour.
import { reply } from '../../../mail/reply.js';
import { capabilities } from '../capabilities.js';
import type { Handler } from '../handler.js';
import { resetTransaction } from '../session.js';
import { parseClientName } from './helo.js';

export const ehlo: Handler = (ctx, args) => {
  const name = parseClientName(args, 'EHLO');
  // A new EHLO resets the state as RSET would (§4.1.4).
  resetTransaction(ctx.session);
  ctx.session.greeting = { name, esmtp: true };
  return reply(250, null, [`${ctx.server.hostname} greets ${name}`, ...capabilities(ctx.server, ctx.session)]);
};
