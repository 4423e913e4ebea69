// check-config's look at the addresses (README, Addresses): the aliases' syntax and where each one leads, as
// `key: problem` pairs (an inline alias's key, or inbound.users_file with the file's line).
import type { Config } from '../config/config.js';
import type { Mailboxes } from '../inbound/mailboxes.js';
import { aliasProblems } from '../routing/alias-check.js';
import { Router } from '../routing/router.js';
import { routerDeps, routerSettings } from '../routing/routing-setup.js';

export async function routingProblems(config: Config, mailboxes: Mailboxes): Promise<{ key: string; problem: string }[]> {
  const { usersFile } = config.inbound;
  // A location is "inbound.aliases.…" for the config's table, "FILE:LINE" for the users file.
  const asProblem = (where: string, problem: string) =>
    where.startsWith('inbound.') ? { key: where, problem } : { key: 'inbound.users_file', problem: `${where}: ${problem}` };
  let settings;
  try {
    settings = await routerSettings(config.inbound, config.outbound.enabled);
  } catch (err) {
    const text = (err as Error).message;
    const where = usersFile !== null && text.startsWith(`${usersFile}:`) ? /^(.*?:\d+): /.exec(text)?.[1] : /^(inbound\.aliases\.".*?"): /.exec(text)?.[1];
    return [where === undefined ? { key: 'inbound.aliases', problem: text } : asProblem(where, text.slice(where.length + 2))];
  }
  // No SRS: an alias never targets one of our SRS addresses, and no secret is needed to follow the others.
  const router = new Router(routerDeps(mailboxes, config.inbound.maildirRoot, null), settings);
  return (await aliasProblems(router, settings.aliases)).map((p) => asProblem(p.where, p.problem));
}
