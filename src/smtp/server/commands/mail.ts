// MAIL FROM (RFC 5321 §4.1.1.2): opens a transaction with its reverse-path and ESMTP parameters.
import { parseReversePath } from '../../path-parser.js';
import { parseMailParams } from '../../mail-params.js';
import { replies } from '../../replies.js';
import type { Handler } from '../handler.js';

export const mail: Handler = (ctx, args) => {
  const { path, params } = parseReversePath(args, { utf8: true });
  // Parameters are an ESMTP feature: a client that said HELO may not use them (RFC 5321 §4.1.1.2, §2.2.1).
  if (params.size > 0 && ctx.session.greeting?.esmtp !== true) {
    const [first] = params.keys();
    return replies.unknownParameter(first ?? '');
  }
  const mailParams = parseMailParams(params, { maxSize: ctx.server.limits.maxMessageSize });
  ctx.session.transaction = { reversePath: path, params: mailParams, recipients: [] };
  return replies.senderOk();
};
