// `facteur route ADDRESS`: where mail to ADDRESS would go (mailbox and folder, the alias tree, forwards with the SRS
// reverse-path they would get), or why it would be refused, without sending or writing anything.
import type { Config } from '../config/config.js';
import { Mailboxes } from '../inbound/mailboxes.js';
import { formatAddress, type Address } from '../mail/address.js';
import { replyText } from '../mail/reply.js';
import { forwardSender } from '../routing/inbound-routing.js';
import type { Route, RouteNode } from '../routing/route.js';
import { Router } from '../routing/router.js';
import { peekSrs, routerDeps, routerSettings } from '../routing/routing-setup.js';
import { parseForwardPath, parseReversePath } from '../smtp/path-parser.js';
import { isSmtpError } from '../smtp/smtp-error.js';
import type { Srs } from '../srs/srs.js';
import { processOutput, type CommandOutput } from './output.js';

/** Exit codes (README, Commands): deliverable, refused, bad usage or config. */
const DELIVERABLE = 0;
const REFUSED = 1;
const USAGE = 2;

export async function runRoute(config: Config, address: string, opts: { from?: string }, output: CommandOutput = processOutput): Promise<number> {
  const to = parseArg(address, false, output);
  const from = opts.from === undefined ? undefined : parseArg(opts.from, true, output);
  if (to == null || (from === undefined && opts.from !== undefined)) return USAGE;
  let router: Router;
  let mailboxes: Mailboxes;
  let srs: Srs | null;
  let srsNote = '';
  try {
    mailboxes = await Mailboxes.load(config.inbound);
    const peeked = await peekSrs(config, Date.now);
    if (peeked !== null && !peeked.made) srsNote = ` (${config.inbound.srsSecretFile} does not exist yet: the server makes it at its first start, so this hash is only an example)`;
    srs = peeked?.srs ?? null;
    router = new Router(routerDeps(mailboxes, config.inbound.maildirRoot, srs), await routerSettings(config.inbound, config.outbound.enabled));
  } catch (err) {
    output.err(`${config.file ?? '(defaults)'}: ${(err as Error).message}\n`);
    return USAGE;
  }
  if (!config.inbound.enabled) output.err('warning: inbound.enabled is false: the MX refuses every recipient; this is what the router would do\n');
  let route: Route;
  try {
    route = await router.route(to);
  } catch (err) {
    if (!isSmtpError(err)) throw err;
    output.out(`${formatAddress(to)}: refused: ${replyText(err.reply)}\n`);
    return REFUSED;
  }
  output.out(formatTree(route.tree, ''));
  for (const m of route.mailboxes) output.out(`mailbox ${m.mailbox}: ${m.folder === null ? 'inbox' : `folder .${m.folder}`}\n`);
  if (route.forwards.length > 0) {
    const list = route.forwards.map(formatAddress).join(', ');
    if (from === undefined) output.out(`forward to ${list} through the relay's queue, from the sender's address rewritten by SRS (give --from SENDER to see it)\n`);
    else output.out(`forward to ${list} through the relay's queue, from <${formatAddress(forwardSender(from, srs, (d) => mailboxes.isLocalDomain(d)))}>${srsNote}\n`);
  }
  return DELIVERABLE;
}

/** "alice@example.org" or "<alice@example.org>", as RCPT TO (or MAIL FROM for --from) would take it. */
function parseArg(text: string, sender: boolean, output: CommandOutput): Address | null | undefined {
  const path = text.startsWith('<') ? text : `<${text}>`;
  try {
    return sender ? parseReversePath(`FROM:${path}`, { utf8: true }).path : parseForwardPath(`TO:${path}`, { utf8: true }).path;
  } catch (err) {
    output.err(`facteur route: ${JSON.stringify(text)}: ${isSmtpError(err) ? err.reply.lines.join(' ') : (err as Error).message}\n`);
    return undefined;
  }
}

/** The expansion tree, one line per step, indented by level. */
function formatTree(node: RouteNode, indent: string): string {
  let what: string;
  switch (node.rule) {
    case 'mailbox':
      what = `mailbox ${node.mailbox}`;
      break;
    case 'subaddress':
      what = `subaddress of mailbox ${node.mailbox}: ${node.folder == null ? `inbox${node.note === undefined ? '' : ` (${node.note})`}` : `folder .${node.folder}`}`;
      break;
    case 'catch-all':
      what = `catch-all ${node.via} of mailbox ${node.mailbox}`;
      break;
    case 'alias':
      what = `alias ${node.via}`;
      break;
    case 'srs':
      what = `SRS address of ours, for ${node.via}`;
      break;
    case 'forward':
      what = 'forward (outside address)';
      break;
    case 'dropped':
      what = `leads nowhere, skipped (${node.reply === undefined ? '' : replyText(node.reply)})`;
      break;
  }
  return `${indent}${node.address} -> ${what}\n${(node.children ?? []).map((c) => formatTree(c, `${indent}  `)).join('')}`;
}
