// One command line → one outcome: parse the verb, check the phase, run the handler, turn errors into replies.
import { replies } from '../replies.js';
import { isSmtpError } from '../smtp-error.js';
import { isConnectionError } from '../wire/connection-errors.js';
import { replyClass } from '../../observability/metrics.js';
import { commandTable, type CommandEntry } from './command-table.js';
import { replyOf, type CommandContext, type Outcome } from './handler.js';
import { phaseOf } from './session.js';

/** Verbs are letters only; the argument follows one space (RFC 5321 §4.1.1). */
const COMMAND = /^([A-Za-z]{1,12})(?:[ \t]+(.*))?$/s;

export async function dispatch(ctx: CommandContext, line: string): Promise<Outcome> {
  const m = COMMAND.exec(line);
  const verb = m?.[1]?.toUpperCase();
  const entry = verb === undefined ? undefined : commandTable.get(verb);
  const outcome = m === null || entry === undefined ? replies.unknownCommand() : await run(ctx, verb!, entry, m[2] ?? '');
  // Known verbs only as labels: what a client types must not create new time series.
  ctx.server.metrics.commands.inc({ server: ctx.server.name, verb: entry === undefined ? 'unknown' : verb!, reply: replyClass(replyOf(outcome).code) });
  return outcome;
}

async function run(ctx: CommandContext, verb: string, entry: CommandEntry, args: string): Promise<Outcome> {
  if (!entry.phases.includes(phaseOf(ctx.session))) return replies.badSequence(entry.hint);
  try {
    return await entry.handler(ctx, args);
  } catch (err) {
    if (isSmtpError(err)) return err.reply;
    if (isConnectionError(err)) throw err;
    // Anything else is a bug of ours: say so in the log, and let the client retry later.
    ctx.server.logger.error({ err, session: ctx.session.id, verb }, 'command failed');
    return replies.localError();
  }
}
