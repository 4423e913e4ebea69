// The [inbound] keys of addresses (README, Addresses): subaddressing, aliases, SRS. Spread into schema.ts's inbound table.
import { checkAliases, isOutsideTarget, type AliasEntry } from '../mail/alias-rules.js';
import { MAX_TIMER_MS } from '../time/timers.js';
import { type AddIssue, Invalid, bool, domain, duration, field, path, str } from './schema-fields.js';
import { describeValue } from './units.js';

/**
 * recipient_delimiter: characters any one of which splits "alice+shop" into alice and its detail (Postfix's
 * recipient_delimiter); "" turns subaddressing off. Characters that could not be in an unquoted local part, or that
 * would split a domain or a quoted string, are refused.
 */
const delimiter = field((v) => {
  const s = str(v);
  if ([...s].length > 8) throw Invalid.of('at most 8 characters');
  const bad = [...s].find((c) => !/^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]$/.test(c));
  if (bad !== undefined) throw Invalid.of(`${JSON.stringify(bad)} cannot be a delimiter: use characters of an unquoted local part, such as "+" or "-"`);
  return s;
});

/** [inbound.aliases]: a table of "address" (or "@domain") = [targets]; the rules are checked with inbound.domains below. */
const aliases = field((v): Record<string, string[]> => {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Date) throw Invalid.of(`expected a table of "address" = [targets], found ${describeValue(v)}`);
  const out: Record<string, string[]> = {};
  const problems: { path: string[]; message: string }[] = [];
  for (const [alias, list] of Object.entries(v)) {
    if (!Array.isArray(list) || !list.every((a) => typeof a === 'string')) problems.push({ path: [alias], message: `expected a list of addresses, found ${describeValue(list)}` });
    else out[alias] = list;
  }
  if (problems.length > 0) throw new Invalid(problems);
  return out;
});

export const routingShape = {
  recipient_delimiter: delimiter.prefault('+'),
  deliver_to_subfolder: bool.prefault(false),
  aliases: aliases.prefault({}),
  srs_domain: field((v) => domain(str(v)).toLowerCase()).optional(),
  srs_secret_file: path.prefault('srs-secret'),
  srs_max_age: duration(MAX_TIMER_MS * 1000).prefault('21d'),
};

/** The aliases' rules (mail/alias-rules.ts), each problem under its alias's key. */
export function checkInlineAliases(inbound: { domains: unknown; aliases: Record<string, string[]> }, addIssue: AddIssue): void {
  const domains = Array.isArray(inbound.domains) ? inbound.domains.map((d) => String(d).toLowerCase()) : null;
  for (const p of checkAliases(aliasEntries(inbound.aliases), domains)) addIssue({ code: 'custom', message: p.message, path: ['aliases', p.alias] });
}

/** Outside targets are forwarded through the relay's queue: without the relay they could never leave. */
export function checkForwardingNeedsRelay(
  root: { inbound: { domains: readonly string[]; aliases: Record<string, string[]> }; outbound: { enabled: boolean } },
  addIssue: AddIssue,
): void {
  if (root.outbound.enabled) return;
  for (const [alias, targets] of Object.entries(root.inbound.aliases)) {
    const outside = targets.filter((t) => isOutsideTarget(t, root.inbound.domains));
    if (outside.length > 0) {
      addIssue({ code: 'custom', message: `forwards to ${outside.join(', ')}, which needs the outbound relay (set outbound.enabled = true)`, path: ['inbound', 'aliases', alias] });
    }
  }
}

export function aliasEntries(table: Readonly<Record<string, readonly string[]>>): AliasEntry[] {
  return Object.entries(table).map(([alias, targets]) => ({ where: `inbound.aliases.${JSON.stringify(alias)}`, alias, targets }));
}
