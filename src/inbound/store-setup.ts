// The local store the config asks for (inbound.delivery): the options of MaildirDelivery that choose and shape it.
import { join } from 'node:path';
import type { Config } from '../config/config.js';
import { groupId } from '../fs/group-id.js';
import type { Logger } from '../observability/logger.js';
import { LmtpStore } from './lmtp-store.js';
import type { MaildirDeliveryOptions } from './maildir-delivery.js';
import { Spool } from './spool-file.js';

export interface StoreSetup {
  readonly options: Pick<MaildirDeliveryOptions, 'store' | 'quotaOf' | 'group'>;
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
  return {
    options: {
      ...(anyQuota ? { quotaOf: (mailbox: string) => quotas[mailbox] ?? quota } : {}),
      ...(group === undefined ? {} : { group }),
    },
    close: async () => undefined,
  };
}
