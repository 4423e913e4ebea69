// QUIT (RFC 5321 §4.1.1.10): 221 then close; an open transaction is abandoned.
import { replies } from '../../replies.js';
import type { Handler } from '../handler.js';

export const quit: Handler = (ctx) => ({ reply: replies.closing(ctx.server.hostname), then: 'close' });
