// Fixtures for the tests of local delivery: a config, a session, Maildir listings.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { InboundConfig } from '../../src/config/config.js';
import type { SessionInfo } from '../../src/delivery.js';

export function inboundConfig(maildirRoot: string, overrides: Partial<InboundConfig> = {}): InboundConfig {
  return {
    enabled: true,
    listen: [],
    listenTls: [],
    domains: ['example.org'],
    maildirRoot,
    usersFile: null,
    maxMessageSize: 1024 * 1024,
    maxRecipients: 100,
    maxConnections: 10,
    maxIdleCommands: 100,
    maxSessionTime: 3_600_000,
    greetPause: 0,
    maxConnectionsPerClient: 20,
    maxConnectionRate: 60,
    maxMessageRate: 300,
    maxRecipientRate: 1000,
    limitsExempt: [],
    dnsbl: [],
    dnsblTimeout: 2000,
    greylist: { enabled: false, delay: 300_000, expire: 86_400_000, lifetime: 35 * 86_400_000, autoWhitelist: 5 },
    rspamd: null,
    users: {},
    verify: false,
    dmarcPolicy: 'enforce',
    recipientDelimiter: '+',
    deliverToSubfolder: false,
    aliases: {},
    srsDomain: 'example.org',
    srsSecretFile: join(maildirRoot, '..', 'srs-secret'),
    srsMaxAge: 21 * 86_400_000,
    store: { delivery: 'maildir', lmtp: null, lmtpRecipient: 'mailbox', lmtpTimeout: 120_000, quota: 0, quotas: {}, maildirGroup: null, maildirGroupWrite: false },
    ...overrides,
  };
}

export const session: SessionInfo = {
  id: 'S1',
  remoteAddress: '127.0.0.1',
  remotePort: 40000,
  localAddress: '127.0.0.1',
  localPort: 2525,
  heloName: 'client.test',
  esmtp: true,
  tls: null,
};

/** File names in <root>/<mailbox>/<sub>, sorted; [] when the directory does not exist. */
export async function list(root: string, mailbox: string, sub: 'tmp' | 'new' | 'cur'): Promise<string[]> {
  try {
    return (await readdir(join(root, mailbox, sub))).sort();
  } catch {
    return [];
  }
}

/** Whether the process ignores file modes (root), so permission-based failures cannot be provoked. */
export const runningAsRoot = typeof process.getuid === 'function' && process.getuid() === 0;
