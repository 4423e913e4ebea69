// Messages per user per hour: a sliding window of the last hour's accepted messages, plus those in flight.

const HOUR_MS = 3_600_000;

export interface MessageRateOptions {
  readonly maxPerHour: number;
  /** Milliseconds since the epoch. */
  readonly now: () => number;
}

interface Usage {
  /** Times of the messages accepted in the last hour, oldest first (at most maxPerHour of them). */
  sent: number[];
  /** Messages between DATA and their final reply: counted, so that parallel sessions cannot overshoot together. */
  inFlight: number;
}

/**
 * A stolen password must not turn into a spam cannon: each user may send `maxPerHour` messages in any hour.
 * Memory stays bounded: at most maxPerHour times per user, and users with nothing in the window are dropped.
 */
export class MessageRateLimit {
  readonly #opts: MessageRateOptions;
  readonly #users = new Map<string, Usage>();

  constructor(opts: MessageRateOptions) {
    this.#opts = opts;
  }

  get maxPerHour(): number {
    return this.#opts.maxPerHour;
  }

  /** Whether `user` may start one more message now. */
  allows(user: string): boolean {
    const u = this.#usage(user);
    return u === undefined || u.sent.length + u.inFlight < this.#opts.maxPerHour;
  }

  /** Takes a place for a message about to be received; false when the user is over the limit. */
  reserve(user: string): boolean {
    if (!this.allows(user)) return false;
    const u = this.#usage(user) ?? { sent: [], inFlight: 0 };
    u.inFlight += 1;
    this.#users.set(user, u);
    return true;
  }

  /** The reserved message was accepted (committed: true) or not: its place is counted for an hour, or given back. */
  release(user: string, committed: boolean): void {
    const u = this.#users.get(user);
    if (u === undefined) return;
    u.inFlight = Math.max(0, u.inFlight - 1);
    if (committed) u.sent.push(this.#opts.now());
    if (u.inFlight === 0 && u.sent.length === 0) this.#users.delete(user);
  }

  #usage(user: string): Usage | undefined {
    const u = this.#users.get(user);
    if (u === undefined) return undefined;
    const since = this.#opts.now() - HOUR_MS;
    let old = 0;
    while (old < u.sent.length && (u.sent[old] as number) <= since) old++;
    if (old > 0) u.sent.splice(0, old);
    if (u.inFlight === 0 && u.sent.length === 0) {
      this.#users.delete(user);
      return undefined;
    }
    return u;
  }
}
