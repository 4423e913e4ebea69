// The DNS lookup function the checks use: the shape of node:dns's `promises.resolve(name, rrtype)`, with its error
// codes, so that the program-wide resolver (or a Resolver pointed at a test server) plugs in as it is.

/** `dns.promises.resolve` or `resolver.resolve.bind(resolver)`: TXT answers are string[][], A/AAAA string[], MX {exchange, priority}[]. */
export type DnsResolve = (name: string, rrtype: string) => Promise<unknown>;

/** Node's codes for "no such name" and "no such record": an answer, not a failure (RFC 7208 §4.3, RFC 7489 §6.6.3). */
export function isNoRecord(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ENOTFOUND' || code === 'ENODATA';
}

/**
 * A resolver that asks each (name, type) once for one message: the lookups started early (DKIM keys and the DMARC
 * record, as soon as the header section is read) are the ones the checks use at the end of DATA. It also notes
 * whether a lookup failed for a reason other than "no such record" (a timeout, SERVFAIL): a temporary error.
 */
export class MessageResolver {
  readonly #resolve: DnsResolve;
  readonly #asked = new Map<string, Promise<unknown>>();
  #failures = 0;

  constructor(resolve: DnsResolve) {
    this.#resolve = resolve;
  }

  /** The function to hand to mailauth. */
  readonly resolve = (name: string, rrtype: string): Promise<unknown> => {
    const lower = name.toLowerCase();
    const key = `${rrtype} ${lower.endsWith('.') ? lower.slice(0, -1) : lower}`;
    let answer = this.#asked.get(key);
    if (answer === undefined) {
      answer = this.#resolve(name, rrtype);
      answer.catch((err: unknown) => {
        if (!isNoRecord(err)) this.#failures++;
      });
      this.#asked.set(key, answer);
    }
    return answer;
  };

  /**
   * Starts a lookup whose answer will be wanted later; its failure is reported to whoever asks again. (resolve() has
   * already given the answer a rejection handler, the failure count: no other is needed against an unhandled rejection.)
   */
  prefetch(name: string, rrtype: string): void {
    this.resolve(name, rrtype);
  }

  /** Lookups that failed temporarily so far. */
  get failures(): number {
    return this.#failures;
  }
}
