// HELP (RFC 5321 §4.1.1.8).
import { replies } from '../../replies.js';
import type { Handler } from '../handler.js';

export const help: Handler = () => replies.help();
