// STARTTLS (RFC 3207): the connection starts the handshake after our 220 and forgets the session's state.
import { replies } from '../../replies.js';
import type { Handler } from '../handler.js';

export const starttls: Handler = (ctx, args) => {
  if (args.trim() !== '') return replies.syntax('STARTTLS takes no argument'); // RFC 3207 §4: 501
  if (ctx.session.tls !== null) return replies.alreadyTls();
  if (ctx.server.tls === null) return replies.tlsNotAvailable();
  return { reply: replies.readyForTls(), then: 'start-tls' };
};
