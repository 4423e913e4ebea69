// MAIL FROM (RFC 5321 §4.1.1.2): opens a transaction with its reverse-path and ESMTP parameters.
import { parseReversePath, type EsmtpParams } from '../../path-parser.js';
import { parseMailParams } from '../../mail-params.js';
import { replies } from '../../replies.js';
import type { Handler } from '../handler.js';
import { sessionInfo } from '../session.js';
import { overClientLimit } from './client-limit.js';

export const mail: Handler = async (ctx, args) => {
  const over = await overClientLimit(ctx, 'message');
  if (over !== null) return over;
  const { path, params } = parseReversePath(args, { utf8: true });
  // Parameters are an ESMTP feature: a client that said HELO may not use them (RFC 5321 §4.1.1.2, §2.2.1).
  if (params.size > 0 && ctx.session.greeting?.esmtp !== true) {
    const [first] = params.keys();
    return replies.unknownParameter(first ?? '');
  }
  const mailParams = parseMailParams(ctx.server.auth === undefined ? params : withoutAuth(params), { maxSize: ctx.server.limits.maxMessageSize });
  await ctx.server.delivery.acceptSender?.(path, sessionInfo(ctx.session)); // throws SmtpError to refuse
  ctx.session.transaction = { reversePath: path, params: mailParams, recipients: [], info: { reversePath: path, declaredSize: mailParams.size } };
  return replies.senderOk();
};

/**
 * A server offering AUTH must take MAIL's AUTH= parameter (RFC 4954 §5). It names who submitted the message on
 * an earlier hop; the session's own login is what counts here, so the value is accepted and not passed on.
 */
function withoutAuth(params: EsmtpParams): EsmtpParams {
  if (!params.has('AUTH')) return params;
  const rest = new Map(params);
  rest.delete('AUTH');
  return rest;
}
