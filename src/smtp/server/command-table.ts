// The state machine on one screen: each verb, its handler, and the phases in which it is allowed (503 otherwise).
import type { Handler } from './handler.js';
import type { Phase } from './session.js';
import { auth } from './commands/auth.js';
import { data } from './commands/data.js';
import { ehlo } from './commands/ehlo.js';
import { helo } from './commands/helo.js';
import { help } from './commands/help.js';
import { mail } from './commands/mail.js';
import { noop } from './commands/noop.js';
import { quit } from './commands/quit.js';
import { rcpt } from './commands/rcpt.js';
import { rset } from './commands/rset.js';
import { starttls } from './commands/starttls.js';
import { expn, vrfy } from './commands/vrfy-expn.js';

export interface CommandEntry {
  readonly handler: Handler;
  readonly phases: readonly Phase[];
  /** What the client should have done first, for the 503 text. */
  readonly hint: string;
}

const ANY: readonly Phase[] = ['initial', 'ready', 'mail', 'rcpt'];

export const commandTable: ReadonlyMap<string, CommandEntry> = new Map<string, CommandEntry>([
  ['EHLO', { handler: ehlo, phases: ANY, hint: '' }],
  ['HELO', { handler: helo, phases: ANY, hint: '' }],
  ['MAIL', { handler: mail, phases: ['ready'], hint: 'send EHLO first, and only one MAIL per transaction' }],
  ['RCPT', { handler: rcpt, phases: ['mail', 'rcpt'], hint: 'need MAIL before RCPT' }],
  ['DATA', { handler: data, phases: ['rcpt'], hint: 'need RCPT before DATA' }],
  ['RSET', { handler: rset, phases: ANY, hint: ''}],
  ['NOOP', { handler: noop, phases: ANY, hint: ''}],
  ['QUIT', { handler: quit, phases: ANY, hint: '' }],
  ['HELP', { handler: help, phases: ANY, hint: ''}],
  ['VRFY', { handler: vrfy, phases: ANY, hint: ''}],
  ['EXPN', { handler: expn, phases: ANY, hint: ''}],
  // RFC 3207 §4: STARTTLS after EHLO and outside a transaction.
  ['STARTTLS', { handler: starttls, phases: ['ready'], hint: 'send EHLO first, outside a mail transaction' }],
  // RFC 4954 §4: AUTH after EHLO and never during a mail transaction.
  ['AUTH', { handler: auth, phases: ['ready'], hint: 'send EHLO first, outside a mail transaction' }],
]);
