// The local store the config asks for (inbound.delivery): the options of MaildirDelivery that choose and shape it.
import { chmod, chown, mkdir, stat } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import type { Config } from '../config/config.js';
import { groupId } from '../fs/group-id.js';
import type { Logger } from '../observability/logger.js';
import { LmtpStore } from './lmtp-store.js';
import type { MaildirDeliveryOptions } from './maildir-delivery.js';
import { Spool } from './spool-file.js';

export interface StoreSetup {
  readonly options: Pick<MaildirDeliveryOptions, 'store' | 'quotaOf' | 'group' | 'groupWrite'>;
  /** Run after the delivery is closed (the LMTP spool folder goes). */
  readonly close: () => Promise<void>;
}

/** LMTP: a store on inbound.lmtp with a spool under <data_dir>/lmtp-spool. Maildir: quotas and the group, if any. */
export async function setUpStore(config: Config, deps: { readonly pid: number; readonly logger: Logger }): Promise<StoreSetup> {
  const s = config.inbound.store;
  if (s.delivery === 'lmtp' && s.lmtp !== null) {
    const spool = await Spool.open(join(config.dataDir, 'lmtp-spool'), deps.pid);
    const address = s.lmtp.kind === 'unix' ? { path: s.lmtp.path } : { host: s.lmtp.host, port: s.lmtp.port };
    const store = new LmtpStore({ address, endpoint: s.lmtp.text, hostname: config.hostname, timeout: s.lmtpTimeout, recipient: s.lmtpRecipient, logger: deps.logger, spool });
    return { options: { store }, close: () => spool.close() };
  }
  const { quota, quotas } = s;
  const anyQuota = quota > 0 || Object.values(quotas).some((q) => q > 0);
  const group = s.maildirGroup === null ? undefined : await groupId(s.maildirGroup);
  if (group !== undefined) await letGroupThrough(config.inbound.maildirRoot, config.dataDir, group);
  return {
    options: {
      ...(anyQuota ? { quotaOf: (mailbox: string) => quotas[mailbox] ?? quota } : {}),
      ...(group === undefined ? {} : { group, groupWrite: s.maildirGroupWrite }),
    },
    close: async () => undefined,
  };
}

/**
 * The group must be able to reach maildir_root: each folder from data_dir down to the root's parent (the root itself
 * is the writer's: 2750) gets the group and its search bit (x, not r: the group cannot list data_dir, where the
 * queue and keys are, only go through it). Folders above data_dir are the operator's.
 */
async function letGroupThrough(root: string, dataDir: string, gid: number): Promise<void> {
  await mkdir(root, { recursive: true, mode: 0o700 });
  const rel = relative(dataDir, root);
  if (rel === '' || rel.startsWith('..') || rel.startsWith(sep)) return;
  for (let dir = dirname(root); ; dir = dirname(dir)) {
    const { mode } = await stat(dir);
    await chown(dir, -1, gid);
    await chmod(dir, (mode & 0o7777) | 0o010);
    if (dir === dataDir || dirname(dir) === dir) break;
  }
}
