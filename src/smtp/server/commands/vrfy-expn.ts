// VRFY and EXPN (RFC 5321 §4.1.1.6-7): not implemented, so that nobody can harvest addresses through them.
import { replies } from '../../replies.js';
import type { Handler } from '../handler.js';

export const vrfy: Handler = () => replies.notImplemented('VRFY');
export const expn: Handler = () => replies.notImplemented('EXPN');
