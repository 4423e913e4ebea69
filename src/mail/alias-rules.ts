// The rules of aliases, wherever they are configured ([inbound.aliases], "address : target" lines of the carte file):
// an alias is a local address or a domain's catch-all ("@example.org"); its targets are addresses, local or outside.
import { configuredAddress, domainProblem } from './address.js';

/** One alias as configured, with where it was written for messages ("FILE:LINE", 'inbound.aliases."info@example.org"'). */
export interface AliasEntry {
  readonly where: string;
  /** As written: "info@example.org" or "@example.org". */
  readonly alias: string;
  readonly targets: readonly string[];
}

export interface AliasProblem {
  readonly where: string;
  readonly alias: string;
  readonly message: string;
}

/** The most targets one alias may list, and the most addresses one recipient may expand to (router.ts). */
export const MAX_ALIAS_TARGETS = 1000;

/**
 * "info@Example.org" → "info@example.org" lookup key (local part lower-cased too: matching is case-insensitive);
 * "@example.org" → "@example.org" (a catch-all). null when the text is neither.
 */
export function aliasKey(text: string): string | null {
  if (text.startsWith('@')) {
    const domain = text.slice(1).toLowerCase();
    return domainProblem(domain) === null ? `@${domain}` : null;
  }
  const a = configuredAddress(text);
  if ('problem' in a || domainProblem(a.domain) !== null) return null;
  return `${a.local.toLowerCase()}@${a.domain}`;
}

/**
 * Every problem of the syntax of aliases, in order: the alias must be an address or "@domain" of a local domain
 * (`domains` lower-cased; null when unknown: syntax only), each target an address (no catch-all, no empty list), no
 * alias twice. Whether local targets lead anywhere is for the router to say (routing/alias-check.ts): it needs the
 * mailboxes of the users file.
 */
export function checkAliases(entries: readonly AliasEntry[], domains: readonly string[] | null): AliasProblem[] {
  const problems: AliasProblem[] = [];
  const seen = new Map<string, string>();
  for (const entry of entries) {
    const problem = (message: string) => problems.push({ where: entry.where, alias: entry.alias, message });
    const key = aliasKey(entry.alias);
    if (key === null) {
      problem(`"${entry.alias}" is not an address (local@domain) or a catch-all (@domain)`);
    } else {
      const domain = key.slice(key.lastIndexOf('@') + 1);
      if (domains !== null && !domains.includes(domain)) problem(`"${entry.alias}": ${domain} is not a local domain, so no mail for it would ever be accepted`);
      const first = seen.get(key);
      if (first !== undefined) problem(`alias ${entry.alias} is already defined (${first})`);
      else seen.set(key, entry.where);
    }
    if (entry.targets.length === 0) problem('no target: give at least one address');
    if (entry.targets.length > MAX_ALIAS_TARGETS) problem(`more than ${MAX_ALIAS_TARGETS} targets`);
    for (const target of entry.targets) {
      if (target.startsWith('@')) {
        problem(`target "${target}" is a catch-all: a target must be an address`);
        continue;
      }
      const a = configuredAddress(target);
      if ('problem' in a) {
        problem(`target ${a.problem}`);
        continue;
      }
      const bad = domainProblem(a.domain);
      if (bad !== null) problem(`target "${target}" has an invalid domain: it ${bad}`);
    }
  }
  return problems;
}

/** Whether a target is outside the local domains (it is then forwarded through the relay's queue). */
export function isOutsideTarget(target: string, domains: readonly string[]): boolean {
  return !domains.includes(target.slice(target.lastIndexOf('@') + 1).toLowerCase());
}
