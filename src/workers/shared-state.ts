// A worker's stand-ins for the state kept once per server by the primary: the per-client limits and greylisting.
// Each question is one round trip on the IPC channel; exempt clients (loopback by default) never make one.
import type { SessionInfo } from '../delivery.js';
import type { Address } from '../mail/address.js';
import type { Reply } from '../mail/reply.js';
import type { Logger } from '../observability/logger.js';
import { ClientLimits, type ClientLimit, type ClientLimiter, type ClientLimitSettings } from '../smtp/server/client-limits.js';
import type { RecipientPolicy } from '../smtp/server/server-context.js';
import type { WorkerLink } from './worker-link.js';

/**
 * The limits as the primary counts them. Connections were admitted by the primary before the hand-over, so admit()
 * here lets every connection in; MAIL and RCPT are counted there. A primary that cannot answer lets the command
 * through (logged): a limit is a defence against abuse, and refusing every client for it would be an outage.
 */
export class SharedClientLimits implements ClientLimiter {
  readonly #local: ClientLimits;
  readonly #link: WorkerLink;
  readonly #logger: Logger;

  constructor(settings: ClientLimitSettings, link: WorkerLink, logger: Logger) {
    this.#local = new ClientLimits(settings);
    this.#link = link;
    this.#logger = logger;
  }

  admit(): { readonly release: () => void } {
    return { release: () => undefined };
  }

  message(ip: string): Promise<ClientLimit | null> | null {
    return this.#ask('message', ip);
  }

  recipient(ip: string): Promise<ClientLimit | null> | null {
    return this.#ask('recipient', ip);
  }

  update(settings: ClientLimitSettings): void {
    this.#local.update(settings);
  }

  #ask(what: 'message' | 'recipient', ip: string): Promise<ClientLimit | null> | null {
    if (this.#local.isExempt(ip)) return null;
    return this.#link.call({ method: 'client-limit', what, ip }).then(
      (limit) => limit as ClientLimit | null,
      (err: unknown) => {
        this.#logger.warn({ event: 'shared-limit-unanswered', client: ip, err }, 'the primary did not answer a client-limit question: command let through');
        return null;
      },
    );
  }
}

/** Greylisting decided by the primary, which keeps the one greylist.json. Unanswered: the recipient passes. */
export class SharedGreylist implements RecipientPolicy {
  constructor(
    private readonly link: WorkerLink,
    private readonly logger: Logger,
  ) {}

  async check(session: SessionInfo, reversePath: Address | null, recipient: Address): Promise<Reply | null> {
    try {
      return (await this.link.call({ method: 'greylist', session, reversePath, recipient })) as Reply | null;
    } catch (err) {
      this.logger.warn({ event: 'shared-greylist-unanswered', session: session.id, err }, 'the primary did not answer a greylisting question: recipient let through');
      return null;
    }
  }
}
