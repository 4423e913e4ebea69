// Greylisting at RCPT (RFC 6647): a new (client network, sender, recipient) triple gets 451 4.7.1 and passes when
// the sender retries after the delay, as real MTAs do and most spam software does not.
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import type { SessionInfo } from '../delivery.js';
import { addNetwork } from '../net/networks.js';
import type { Logger } from '../observability/logger.js';
import { formatAddress, type Address } from '../mail/address.js';
import type { Reply } from '../mail/reply.js';
import { replies } from '../smtp/replies.js';
import type { RecipientPolicy } from '../smtp/server/server-context.js';
import { GreylistFile } from './greylist-file.js';
import { clientNetwork, isExemptRecipient, recipientKey, senderKey, tripleKey } from './greylist-key.js';
import type { GreylistRules } from './greylist-state.js';

export interface GreylistOptions {
  readonly rules: GreylistRules;
  /** Networks never greylisted (the operator's own hosts, loopback). */
  readonly exempt: readonly string[];
  /** Where greylist.json is kept. */
  readonly dataDir: string;
  readonly logger: Logger;
  /** The clock (ms since the epoch); tests pass their own. */
  readonly now: () => number;
}

export class Greylist implements RecipientPolicy {
  private readonly exempt = new BlockList();

  private constructor(
    private readonly file: GreylistFile,
    private readonly opts: GreylistOptions,
  ) {
    for (const network of opts.exempt) addNetwork(this.exempt, network);
  }

  /** Loads the memory kept in the data directory. */
  static open(opts: GreylistOptions): Greylist {
    return new Greylist(GreylistFile.open({ dataDir: opts.dataDir, rules: opts.rules, logger: opts.logger, now: opts.now }), opts);
  }

  check(session: SessionInfo, reversePath: Address | null, recipient: Address): Reply | null {
    const ip = session.remoteAddress;
    if (this.isExempt(ip) || isExemptRecipient(recipient)) return null;
    const network = clientNetwork(ip);
    const triple = tripleKey(network, senderKey(reversePath), recipientKey(recipient));
    const decision = this.file.state.decide(network, triple, this.opts.now());
    this.file.changed(); // every decision moves a last use, at least
    const facts = { session: session.id, client: ip, network, from: formatAddress(reversePath), to: formatAddress(recipient), why: decision.why };
    if (decision.pass) {
      if (decision.why === 'retried') this.opts.logger.info({ event: 'greylist-pass', ...facts }, 'greylisting passed: the sender retried');
      return null;
    }
    this.opts.logger.info({ event: 'greylisted', ...facts, retry_in_s: Math.ceil(decision.retryInMs / 1000) }, 'recipient greylisted');
    return replies.greylisted();
  }

  /** Saves what is pending. */
  close(): Promise<void> {
    return this.file.close();
  }

  private isExempt(ip: string): boolean {
    if (isIPv4(ip)) return this.exempt.check(ip, 'ipv4');
    return isIPv6(ip) && this.exempt.check(ip, 'ipv6');
  }
}
