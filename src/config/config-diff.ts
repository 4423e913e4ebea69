// What a reload (SIGHUP) cannot apply: the settings whose change needs a restart, named as in the config file.
import type { Config } from './config.js';

/**
 * Keys applied by a reload without a restart (INTERFACE.md: users, local domains, certificate, passwords, DKIM keys),
 * and the limits and log level that are read afresh by each new session or line.
 */
const LIVE = new Set([
  'log.level',
  'tls.cert',
  'tls.key',
  'tls.ciphers',
  'tls.minVersion',
  'inbound.domains',
  'inbound.users',
  'inbound.usersFile',
  'inbound.maxMessageSize',
  'inbound.maxRecipients',
  'inbound.maxConnections',
  'inbound.maxIdleCommands',
  'inbound.maxSessionTime',
  'inbound.greetPause',
  'inbound.maxConnectionsPerClient',
  'inbound.maxConnectionRate',
  'inbound.maxMessageRate',
  'inbound.maxRecipientRate',
  'inbound.limitsExempt',
  'inbound.aliases',
  'inbound.recipientDelimiter',
  'inbound.deliverToSubfolder',
  'outbound.maxMessageSize',
  'outbound.maxRecipients',
  'outbound.maxConnections',
  'outbound.maxIdleCommands',
  'outbound.maxSessionTime',
  'submission.passwordsFile',
  'submission.maxConnections',
  'timeouts.command',
  'timeouts.data',
  'dkim.domains',
  'dkim.selector',
]);

/** "inbound.maxConnections" → "inbound.max_connections": the way the operator wrote it. */
const asWritten = (key: string): string => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** The keys (as written in the file) whose values differ between `before` and `after` and need a restart. */
export function restartNeeded(before: Config, after: Config): string[] {
  const out: string[] = [];
  const visit = (a: unknown, b: unknown, path: string): void => {
    if (LIVE.has(path) || path === 'file') return;
    const table = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
    if (table(a) && table(b) && path.split('.').length < 2) {
      for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) visit(a[k], b[k], path === '' ? k : `${path}.${k}`);
      return;
    }
    if (JSON.stringify(a) !== JSON.stringify(b)) out.push(asWritten(path));
  };
  visit(before, after, '');
  return out;
}
