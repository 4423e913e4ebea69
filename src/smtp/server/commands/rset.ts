// RSET (RFC 5321 §4.1.1.5): drops the transaction, keeps the greeting.
import { replies } from '../../replies.js';
import type { Handler } from '../handler.js';
import { resetTransaction } from '../session.js';

export const rset: Handler = (ctx, args) => {
  if (args.trim() !== '') return replies.syntax('RSET takes no argument');
  resetTransaction(ctx.session);
  return replies.reset();
};
