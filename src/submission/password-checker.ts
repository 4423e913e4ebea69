// Checks a login's password: scrypt against the stored hash, a bounded number at once, with a short-lived cache of successes.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { DEFAULT_PARAMS, unmatchableHash, verifyPassword, type PasswordHash, type ScryptParams } from './password-hash.js';
import type { Passwords } from './passwords-file.js';
import { rememberBounded } from '../cache/bounded-map.js';

export interface PasswordCheckerOptions {
  readonly passwords: Passwords;
  /** Milliseconds since the epoch. */
  readonly now: () => number;
  /** scrypt runs at once (each holds its memory, 32 MiB at the default cost); default: the number of cores. */
  readonly maxConcurrent?: number;
  /** How long a successful login is remembered (default 1 hour; 0 turns the cache off). */
  readonly cacheTtlMs?: number;
  /** The scrypt check (tests count its calls). */
  readonly verify?: (password: string, hash: PasswordHash) => Promise<boolean>;
}

/** Logins remembered at most (the oldest are forgotten first). */
const CACHE_ENTRIES = 10_000;

interface Remembered {
  /** The stored hash the password was checked against: a new password in the file makes the entry void. */
  readonly hash: string;
  /** HMAC-SHA256 of the password under a key that exists only in this process's memory. */
  readonly mac: Buffer;
  readonly expires: number;
}

/**
 * Why a cache: mail clients open a connection (and log in) for every message they send, and a memory-hard hash
 * costs tens of milliseconds of CPU and 32 MiB each time. As Dovecot's auth cache does, a successful check is
 * remembered for a while, as a keyed MAC that exists only in memory; a password that does not match the MAC
 * always goes through scrypt, so failures all cost the same and nothing on disk gets weaker.
 */
export class PasswordChecker {
  #passwords: Passwords;
  /** The cost of the check made for a login without a password, so that its refusal takes as long as any other. */
  #decoy: PasswordHash;
  readonly #now: () => number;
  readonly #ttl: number;
  readonly #cacheKey = randomBytes(32);
  readonly #cache = new Map<string, Remembered>();
  readonly #slots: Semaphore;
  readonly #verify: (password: string, hash: PasswordHash) => Promise<boolean>;

  constructor(opts: PasswordCheckerOptions) {
    this.#now = opts.now;
    this.#ttl = opts.cacheTtlMs ?? 3_600_000;
    this.#slots = new Semaphore(opts.maxConcurrent ?? Math.max(1, availableParallelism()));
    this.#verify = opts.verify ?? verifyPassword;
    this.#passwords = opts.passwords;
    this.#decoy = unmatchableHash(commonParams(opts.passwords));
  }

  /** Replaces the passwords (SIGHUP); remembered logins whose hash changed no longer count. */
  setPasswords(passwords: Passwords): void {
    this.#passwords = passwords;
    this.#decoy = unmatchableHash(commonParams(passwords));
  }

  /** Whether `password` is the one stored for the login key (see passwords-file.ts loginKey); false for an unknown login. */
  async check(key: string, password: string): Promise<boolean> {
    const entry = this.#passwords.get(key);
    if (entry === undefined) {
      await this.#slots.run(() => this.#verify(password, this.#decoy));
      return false;
    }
    const mac = createHmac('sha256', this.#cacheKey).update(password.normalize('NFKC'), 'utf8').digest();
    const remembered = this.#cache.get(key);
    if (remembered !== undefined && remembered.hash === entry.hash.text && remembered.expires > this.#now() && timingSafeEqual(remembered.mac, mac)) return true;
    const ok = await this.#slots.run(() => this.#verify(password, entry.hash));
    if (ok && this.#ttl > 0) this.#remember(key, { hash: entry.hash.text, mac, expires: this.#now() + this.#ttl });
    return ok;
  }

  #remember(key: string, value: Remembered): void {
    rememberBounded(this.#cache, key, value, CACHE_ENTRIES); // re-inserted last: the Map's order is the order of use
  }
}

/** The parameters most hashes of the file use (the default for an empty file): what an unknown login is made to cost. */
function commonParams(passwords: Passwords): ScryptParams {
  const counts = new Map<string, { params: ScryptParams; n: number }>();
  for (const { hash } of passwords.values()) {
    const id = `${hash.params.ln},${hash.params.r},${hash.params.p}`;
    const c = counts.get(id) ?? { params: hash.params, n: 0 };
    c.n += 1;
    counts.set(id, c);
  }
  let best: { params: ScryptParams; n: number } | null = null;
  for (const c of counts.values()) if (best === null || c.n > best.n) best = c;
  return best?.params ?? DEFAULT_PARAMS;
}

/** At most `size` tasks at once; the others wait in order. */
class Semaphore {
  #free: number;
  readonly #waiting: (() => void)[] = [];

  constructor(size: number) {
    this.#free = size;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free -= 1;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = this.#waiting.shift();
      if (next !== undefined) next();
      else this.#free += 1;
    }
  }
}
