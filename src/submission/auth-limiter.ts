// Failed logins per client address: a delay that grows with each failure, then a ban (421) for a while.
import { isIPv6 } from 'node:net';

export interface AuthLimiterOptions {
  /** Failures within `windowMs` that start a ban. */
  readonly maxFailures: number;
  readonly windowMs: number;
  readonly banMs: number;
  /** Milliseconds since the epoch. */
  readonly now: () => number;
}

export interface Failure {
  /** Failures of this address within the window, this one included. */
  readonly failures: number;
  /** How long to wait before answering 535. */
  readonly delayMs: number;
  /** The end of the ban this failure started, or null. */
  readonly bannedUntil: number | null;
}

/** The first failure waits this long, each next one twice as long as the one before, up to MAX_DELAY_MS. */
const BASE_DELAY_MS = 250;
const MAX_DELAY_MS = 8_000;
/** Addresses tracked before the stale ones are swept out (an attack from many addresses must not grow the map forever). */
const SWEEP_AT = 10_000;

interface Record {
  /** Times of the failures still in the window, oldest first. */
  failures: number[];
  bannedUntil: number;
}

export class AuthLimiter {
  readonly #opts: AuthLimiterOptions;
  readonly #records = new Map<string, Record>();

  constructor(opts: AuthLimiterOptions) {
    this.#opts = opts;
  }

  /** The end of the address's ban, or null if it may try to log in. */
  bannedUntil(ip: string): number | null {
    const r = this.#records.get(clientKey(ip));
    return r !== undefined && r.bannedUntil > this.#opts.now() ? r.bannedUntil : null;
  }

  /** Records a failed login from `ip`. */
  fail(ip: string): Failure {
    const now = this.#opts.now();
    const key = clientKey(ip);
    if (!this.#records.has(key) && this.#records.size >= SWEEP_AT) this.#sweep(now);
    const r = this.#records.get(key) ?? { failures: [], bannedUntil: 0 };
    this.#records.set(key, r);
    r.failures = r.failures.filter((t) => t > now - this.#opts.windowMs);
    r.failures.push(now);
    const n = r.failures.length;
    let bannedUntil: number | null = null;
    if (n >= this.#opts.maxFailures) {
      bannedUntil = now + this.#opts.banMs;
      r.bannedUntil = bannedUntil;
      // After the ban the address starts from nothing: the failures that caused it are paid for.
      r.failures = [];
    }
    return { failures: n, delayMs: Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** Math.min(n - 1, 16)), bannedUntil };
  }

  /** Addresses tracked, for tests. */
  get size(): number {
    return this.#records.size;
  }

  #sweep(now: number): void {
    for (const [key, r] of this.#records) {
      if (r.bannedUntil <= now && r.failures.every((t) => t <= now - this.#opts.windowMs)) this.#records.delete(key);
    }
  }
}

/**
 * The unit a limit applies to: an IPv4 address, or the /64 of an IPv6 one (RFC 6177: a site gets at least a /64,
 * so one attacker holds 2^64 addresses of it and would otherwise never reach the limit).
 */
export function clientKey(ip: string): string {
  if (!isIPv6(ip)) return ip;
  return `${expandIpv6(ip).slice(0, 4).join(':')}::/64`;
}

/** "2001:db8::1" → ["2001", "db8", "0", "0", "0", "0", "0", "1"] (a trailing dotted IPv4 part counts as two groups). */
function expandIpv6(ip: string): string[] {
  const [head = '', tail] = ip.toLowerCase().split('::');
  const groups = (s: string): string[] => (s === '' ? [] : s.split(':').flatMap((g) => (g.includes('.') ? ipv4Groups(g) : [g.replace(/^0+(?=.)/, '')])));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  return [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
}

function ipv4Groups(v4: string): string[] {
  const [a = 0, b = 0, c = 0, d = 0] = v4.split('.').map(Number);
  return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
}
