// The aliases checked through the router (for check-config): every local target must lead to a mailbox or a forward,
// and no alias may loop or expand too far. The syntax is checked before (mail/alias-rules.ts, alias-table.ts).
import { replyText } from '../mail/reply.js';
import { isSmtpError } from '../smtp/smtp-error.js';
import type { AliasTable } from './alias-table.js';
import type { RouteNode } from './route.js';
import type { Router } from './router.js';

/** One problem: where the alias is configured ('inbound.aliases."info@example.org"' or "FILE:LINE") and what. */
export interface AliasCheckProblem {
  readonly where: string;
  readonly problem: string;
}

export async function aliasProblems(router: Router, aliases: AliasTable): Promise<AliasCheckProblem[]> {
  const problems: AliasCheckProblem[] = [];
  for (const entry of aliases.entries) {
    const report = (problem: string) => problems.push({ where: entry.where, problem: `${entry.alias}: ${problem}` });
    // A catch-all has no address of its own to route: its targets are routed one by one.
    const starts = entry.alias.startsWith('@') ? entry.targets : [entry.alias];
    for (const text of starts) {
      const at = text.lastIndexOf('@');
      try {
        const route = await router.route({ local: text.slice(0, at), domain: text.slice(at + 1) });
        for (const d of dropped(route.tree)) report(`target ${d} leads to no mailbox (its mail would be dropped)`);
      } catch (err) {
        if (!isSmtpError(err)) throw err;
        // A catch-all's outside target is a forward, not relaying: route() is asked as a client would ask.
        if (entry.alias.startsWith('@') && err.reply.enhanced === '5.7.1') continue;
        report(`${replyText(err.reply)}${err.reply.enhanced === '5.1.1' ? ' (no target leads to a mailbox)' : ''}`);
      }
    }
  }
  return problems;
}

function dropped(node: RouteNode): string[] {
  return node.rule === 'dropped' ? [node.address] : (node.children ?? []).flatMap(dropped);
}
