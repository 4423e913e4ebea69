// HELO (RFC 5321 §4.1.1.1): the old greeting, without extensions.
import { reply } from '../../../mail/reply.js';
import { replies } from '../../replies.js';
import { SmtpError } from '../../smtp-error.js';
import type { Handler } from '../handler.js';
import { resetTransaction } from '../session.js';

/**
 * The client's name: one token of printable characters. We record it (it goes into the Received header)
 * but never trust it; anything with spaces, controls or brackets out of place is a syntax error.
 */
export function parseClientName(args: string, verb: string): string {
  const name = args.trim();
  if (name === '') throw new SmtpError(replies.syntax(`${verb} needs a domain or address literal`));
  if (name.length > 255 || !/^[^\s\x00-\x1f\x7f()<>]+$/u.test(name)) {
    throw new SmtpError(replies.syntax(`${verb} argument is not a domain or address literal`));
  }
  return name;
}

export const helo: Handler = (ctx, args) => {
  const name = parseClientName(args, 'HELO');
  resetTransaction(ctx.session);
  ctx.session.greeting = { name, esmtp: false };
  // RFC 2034 §3: no enhanced code in the reply to HELO/EHLO.
  return reply(250, null, `${ctx.server.hostname} greets ${name}`);
};
