// Building the router from the config, for the servers (app.ts) and for `facteur route`: its settings, its view of
// the mailboxes and of their Maildir++ folders, and the SRS secrets.
import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config, InboundConfig } from '../config/config.js';
import type { Address } from '../mail/address.js';
import { isOutsideTarget } from '../mail/alias-rules.js';
import { loadSrsSecrets, readSrsSecrets } from '../srs/srs-secret.js';
import { Srs } from '../srs/srs.js';
import { AliasTable } from './alias-table.js';
import type { Logger } from '../observability/logger.js';
import { aliasProblems } from './alias-check.js';
import type { Router, RouterDeps, RouterSettings } from './router.js';

/**
 * The settings of [inbound] a reload may change; throws "WHERE: problem" for a bad alias, or one that forwards outside
 * when there is no relay to forward through (`relay` false; the schema says it for [inbound.aliases] already).
 */
export async function routerSettings(cfg: InboundConfig, relay: boolean): Promise<RouterSettings> {
  const aliases = await AliasTable.load(cfg);
  if (!relay) {
    for (const e of aliases.entries) {
      const outside = e.targets.filter((t) => isOutsideTarget(t, cfg.domains));
      if (outside.length > 0) throw new Error(`${e.where}: forwards to ${outside.join(', ')}, which needs the outbound relay (set outbound.enabled = true)`);
    }
  }
  return { aliases, delimiters: cfg.recipientDelimiter, deliverToSubfolder: cfg.deliverToSubfolder };
}

/**
 * Our SRS, when forwarding is possible (the relay is on) and there is an SRS domain: the secrets file is made on
 * first use (mode 0600). null otherwise: forwarded mail keeps its reverse-path, and no SRS address is ours.
 */
export async function loadSrs(config: Config, now: () => number): Promise<Srs | null> {
  const { srsDomain, srsSecretFile, srsMaxAge } = config.inbound;
  if (!config.outbound.enabled || srsDomain === null) return null;
  return new Srs({ secrets: await loadSrsSecrets(srsSecretFile), domain: srsDomain, maxAge: srsMaxAge, now });
}

/**
 * The same for a command that must change nothing (`facteur route`): the secrets file is read if it is there, never
 * made; without it, a throwaway secret (`made` false: the hashes shown are not the server's).
 */
export async function peekSrs(config: Config, now: () => number): Promise<{ srs: Srs; made: boolean } | null> {
  const { srsDomain, srsSecretFile, srsMaxAge } = config.inbound;
  if (!config.outbound.enabled || srsDomain === null) return null;
  const secrets = await readSrsSecrets(srsSecretFile);
  const made = secrets !== null;
  return { srs: new Srs({ secrets: secrets ?? [randomBytes(32)], domain: srsDomain, maxAge: srsMaxAge, now }), made };
}

/** Whether <root>/<mailbox>/.<folder>/new exists: a folder the user (or their IMAP server) made. */
export function folderExistsIn(root: string): (mailbox: string, folder: string) => Promise<boolean> {
  return async (mailbox, folder) => {
    try {
      return (await stat(join(root, mailbox, `.${folder}`, 'new'))).isDirectory();
    } catch {
      return false;
    }
  };
}

/** The router's dependencies from what knows the mailboxes (MaildirDelivery, or Mailboxes for a command). */
export function routerDeps(
  users: { lookup(a: Address): string | null; isLocalDomain(domain: string): boolean },
  root: string,
  srs: Srs | null,
  onSrsRefused?: RouterDeps['onSrsRefused'],
): RouterDeps {
  return {
    mailbox: (a) => users.lookup(a),
    isLocalDomain: (d) => users.isLocalDomain(d),
    folderExists: folderExistsIn(root),
    srs,
    ...(onSrsRefused === undefined ? {} : { onSrsRefused }),
  };
}

/**
 * What check-config would say of the aliases, as warnings in the log at start and at a reload: such an alias does not
 * stop the server (its target is skipped, or its loop refused at RCPT), but its mail does not go where it was meant to.
 */
export async function logAliasProblems(router: Router, logger: Logger): Promise<void> {
  for (const p of await aliasProblems(router, router.settings.aliases)) {
    logger.warn({ event: 'alias-problem', where: p.where, problem: p.problem }, `${p.where}: ${p.problem}`);
  }
}
