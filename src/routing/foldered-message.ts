// One message for mailboxes that want it in different Maildir++ folders ("alice+shop" in .shop, bob's inbox): one
// Maildir message per folder, written together, committed together.
import type { LogContext, MaildirDelivery } from '../inbound/maildir-delivery.js';
import type { DeliveredCopy, MaildirMessage } from '../inbound/maildir-writer.js';
import type { Address } from '../mail/address.js';
import type { MailboxTarget } from './route.js';

/**
 * Opens the copies for `targets` (distinct mailboxes) grouped by folder; a single group is the plain message.
 * A failure to open one group aborts those already open.
 */
export async function openFoldered(maildirs: MaildirDelivery, reversePath: Address | null, targets: readonly MailboxTarget[], log: LogContext): Promise<MaildirMessage> {
  const byFolder = new Map<string | null, string[]>();
  for (const t of targets) byFolder.set(t.folder, [...(byFolder.get(t.folder) ?? []), t.mailbox]);
  const groups: { folder: string | null; message: MaildirMessage }[] = [];
  try {
    for (const [folder, mailboxes] of byFolder) groups.push({ folder, message: await maildirs.open(reversePath, mailboxes, log) });
  } catch (err) {
    await Promise.allSettled(groups.map((g) => g.message.abort()));
    throw err;
  }
  const [only] = groups;
  return groups.length === 1 && only !== undefined && only.folder === null ? only.message : new FolderedMessage(groups);
}

class FolderedMessage implements MaildirMessage {
  constructor(private readonly groups: readonly { readonly folder: string | null; readonly message: MaildirMessage }[]) {}

  async write(chunk: Buffer): Promise<void> {
    await Promise.all(this.groups.map((g) => g.message.write(chunk)));
  }

  /**
   * Each group into its folder; a folder given here (the checks' "Junk") wins over every detail's. A group that
   * fails aborts those not yet committed; copies already in new/ stay (as MaildirWriter's own copies do), and the
   * client's retry after our 451 makes a duplicate rather than a loss.
   */
  async commit(opts: { prefix?: Buffer; folder?: string } = {}): Promise<readonly DeliveredCopy[]> {
    const copies: DeliveredCopy[] = [];
    try {
      for (const g of this.groups) {
        const folder = opts.folder ?? g.folder ?? undefined;
        copies.push(...(await g.message.commit({ ...(opts.prefix === undefined ? {} : { prefix: opts.prefix }), ...(folder === undefined ? {} : { folder }) })));
      }
    } catch (err) {
      await this.abort();
      throw err;
    }
    return copies;
  }

  async abort(): Promise<void> {
    await Promise.allSettled(this.groups.map((g) => g.message.abort()));
  }
}
