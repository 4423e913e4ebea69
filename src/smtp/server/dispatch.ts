// One command line → one outcome: parse the verb, check the phase, run the handler, turn errors into replies.
import { replies } from '../replies.js';
import { isSmtpError } from '../smtp-error.js';
import { isConnectionError } from '../wire/connection-errors.js';
import { commandTable } from './command-table.js';
import type { CommandContext, Outcome } from './handler.js';
import { phaseOf } from './session.js';

/** Verbs are letters only; the argument follows one space (RFC 5321 §4.1.1). */
const COMMAND = /^([A-Za-z]{1,12})(?:[ \t]+(.*))?$/s;

export async function dispatch(ctx: CommandContext, line: string): Promise<Outcome> {
  const m = COMMAND.exec(line);
  const verb = m?.[1]?.toUpperCase();
  const entry = verb === undefined ? undefined : commandTable.get(verb);
  if (m === null || entry === undefined) return replies.unknownCommand();
  if (!entry.phases.includes(phaseOf(ctx.session))) return replies.badSequence(entry.hint);
  try {
    return await entry.handler(ctx, m[2] ?? '');
  } catch (err) {
    if (isSmtpError(err)) return err.reply;
    if (isConnectionError(err)) throw err;
    // Anything else is a bug of ours: say so in the log, and let the client retry later.
    ctx.server.logger.error({ err, session: ctx.session.id, verb }, 'command failed');
    return replies.localError();
  }
}
