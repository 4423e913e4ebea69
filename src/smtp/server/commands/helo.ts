// HELO (RFC 5321 §4.1.1.1): the old greeting, without extensions.
import { reply } from '../../../mail/reply.js';
import { replies } from '../../replies.js';
import { SmtpError } from '../../smtp-error.js';
import type { Handler } from '../handler.js';
import { resetTransaction } from '../session.js';

/**
 * Characters no domain or address literal holds, and that must never reach a header: every control (C0, DEL, C1
 * such as U+0085 NEL, which some parsers take for a line break), format characters (bidirectional overrides,
 * zero-width characters), separators (spaces, U+2028/U+2029), unassigned and private-use code points, and the
 * comment and angle brackets of the Received header the name is written into.
 */
const NOT_IN_A_NAME = /[\p{C}\p{Z}()<>\\]/u;

/**
 * The client's name: one token of printable characters. We record it (it goes into the Received header)
 * but never trust it; anything with spaces, controls or brackets out of place is a syntax error.
 */
export function parseClientName(args: string, verb: string): string {
  const name = args.replace(/^[ \t]+|[ \t]+$/g, '');
  if (name === '') throw new SmtpError(replies.syntax(`${verb} needs a domain or address literal`));
  if (name.length > 255 || NOT_IN_A_NAME.test(name)) throw new SmtpError(replies.badClientName(verb));
  return name;
}

export const helo: Handler = (ctx, args) => {
  const name = parseClientName(args, 'HELO');
  resetTransaction(ctx.session);
  ctx.session.greeting = { name, esmtp: false };
  // RFC 2034 §3: no enhanced code in the reply to HELO/EHLO.
  return reply(250, null, `${ctx.server.hostname} greets ${name}`);
};
