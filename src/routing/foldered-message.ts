// One message for mailboxes that want it in different Maildir++ folders ("alice+shop" in .shop, bob's inbox): one
// store message per folder, written together, committed together, their outcomes joined.
import type { LogContext, MaildirDelivery } from '../inbound/maildir-delivery.js';
import type { StoreMessage, StoreOpenOptions, StoreOutcome } from '../inbound/local-store.js';
import type { Address } from '../mail/address.js';
import type { MailboxTarget } from './route.js';

/**
 * Opens the copies for `targets` (distinct mailboxes) grouped by folder; a single group is the plain message. A
 * store that files messages itself (LMTP) gets one group, the folders left to it. A failure to open one group
 * aborts those already open.
 */
export async function openFoldered(
  maildirs: MaildirDelivery,
  reversePath: Address | null,
  targets: readonly MailboxTarget[],
  log: LogContext,
  opts: StoreOpenOptions = {},
): Promise<StoreMessage> {
  const byFolder = new Map<string | null, MailboxTarget[]>();
  for (const t of targets) {
    const folder = maildirs.choosesFolders ? t.folder : null;
    byFolder.set(folder, [...(byFolder.get(folder) ?? []), t]);
  }
  const groups: { folder: string | null; message: StoreMessage }[] = [];
  try {
    for (const [folder, group] of byFolder) {
      const storeTargets = group.map((t) => ({ mailbox: t.mailbox, address: t.address }));
      groups.push({ folder, message: await maildirs.open(reversePath, storeTargets, log, opts) });
    }
  } catch (err) {
    await Promise.allSettled(groups.map((g) => g.message.abort()));
    throw err;
  }
  const [only] = groups;
  return groups.length === 1 && only !== undefined && only.folder === null ? only.message : new FolderedMessage(groups);
}

class FolderedMessage implements StoreMessage {
  constructor(private readonly groups: readonly { readonly folder: string | null; readonly message: StoreMessage }[]) {}

  async write(chunk: Buffer): Promise<void> {
    await Promise.all(this.groups.map((g) => g.message.write(chunk)));
  }

  /**
   * Each group into its folder; a folder given here (the checks' "Junk") wins over every detail's. A group that
   * fails aborts those not yet committed; copies already in new/ stay (as MaildirWriter's own copies do), and the
   * client's retry after our 451 makes a duplicate rather than a loss.
   */
  async commit(opts: { prefix?: Buffer; folder?: string } = {}): Promise<StoreOutcome> {
    const stored: StoreOutcome['stored'][number][] = [];
    const failed: StoreOutcome['failed'][number][] = [];
    let replay: StoreOutcome['replay'];
    try {
      for (const g of this.groups) {
        const folder = opts.folder ?? g.folder ?? undefined;
        const outcome = await g.message.commit({ ...(opts.prefix === undefined ? {} : { prefix: opts.prefix }), ...(folder === undefined ? {} : { folder }) });
        stored.push(...outcome.stored);
        failed.push(...outcome.failed);
        replay ??= outcome.replay; // every group holds the same text
      }
    } catch (err) {
      await this.abort();
      throw err;
    }
    return { stored, failed, ...(replay === undefined ? {} : { replay }) };
  }

  async abort(): Promise<void> {
    await Promise.allSettled(this.groups.map((g) => g.message.abort()));
  }
}
