// NOOP (RFC 5321 §4.1.1.9): does nothing; an argument is allowed and ignored.
import { replies } from '../../replies.js';
import type { Handler } from '../handler.js';

export const noop: Handler = () => replies.noop();
