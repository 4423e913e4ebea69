// Which courier takes a domain: our own domains are delivered locally, every other one to its MX hosts.
import type { Courier, TransferRequest, TransferResult } from './courier.js';

export interface Routes {
  /** Delivers to remote MX hosts (smtp-courier.ts). */
  readonly remote: Courier;
  /** Delivers into our Maildirs (local-courier.ts); null when the inbound server is not enabled. */
  readonly local: Courier | null;
  /** Whether a domain is one of ours (asked at each attempt: a SIGHUP may change the local domains). */
  readonly isLocal: (domain: string) => boolean;
}

export class RoutingCourier implements Courier {
  readonly #routes: Routes;

  constructor(routes: Routes) {
    this.#routes = routes;
  }

  deliver(req: TransferRequest): Promise<TransferResult> {
    const { local, remote, isLocal } = this.#routes;
    return local !== null && isLocal(req.domain) ? local.deliver(req) : remote.deliver(req);
  }
}
