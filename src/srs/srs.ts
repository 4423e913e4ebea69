// The Sender Rewriting Scheme (Shevek's "SRS" paper, as libsrs2 and postsrsd write it): a forwarded message's
// reverse-path becomes an address of ours that only we can undo, so that SPF at the next hop checks our domain and a
// bounce comes back to us, then goes on to the original sender.
//
//   SRS0=HHHH=TT=domain=local@our-domain             first forward of local@domain
//   SRS1=HHHH=first-forwarder==HHHH=TT=domain=local@our-domain   forward of an SRS0 address of first-forwarder
//
// HHHH: the first 4 characters of the base64 HMAC of the rest (lower-cased: some hops lower-case local parts), made
// with our secret; compared case-insensitively, as postsrsd does. TT: the day (days since the epoch, modulo 1024) in
// two base32 characters, so that an address is honoured for a limited time (SRS0 only: SRS1 holds no date).
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Address } from '../mail/address.js';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const HASH_LENGTH = 4;
const DAY_MS = 86_400_000;
/** The timestamp's period: 10 bits, 1024 days. */
const STAMP_PERIOD = 1024;

/** Why an SRS address was refused (for the log; the client gets one reply for all). */
export type SrsRefusal = 'syntax' | 'hash' | 'expired';

export class SrsError extends Error {
  constructor(readonly reason: SrsRefusal, message: string) {
    super(message);
  }
}

export interface SrsOptions {
  /** The secrets: the first signs, every one verifies (so that a secret can be replaced without refusing bounces). */
  readonly secrets: readonly Buffer[];
  /** Our SRS domain, lower-cased. */
  readonly domain: string;
  /** How long an SRS0 address is honoured, in ms (rounded down to whole days, at least one). */
  readonly maxAge: number;
  readonly now: () => number;
}

/** Whether a local part is in SRS form (SRS0 or SRS1, any case, "=", "+" or "-" after it as libsrs2 accepts). */
export function isSrsLocal(local: string): boolean {
  return /^srs[01][=+-]/i.test(local);
}

export class Srs {
  readonly #opts: SrsOptions;
  readonly #maxDays: number;

  constructor(opts: SrsOptions) {
    if (opts.secrets.length === 0) throw new Error('SRS needs at least one secret');
    this.#opts = opts;
    this.#maxDays = Math.max(1, Math.floor(opts.maxAge / DAY_MS));
  }

  get domain(): string {
    return this.#opts.domain;
  }

  /** The reverse-path a message from `sender` forwarded by us gets. */
  forward(sender: Address): Address {
    const { domain } = this.#opts;
    const parsed = /^srs([01])([=+-])(.*)$/is.exec(sender.local);
    if (parsed !== null && parsed[1] === '0') {
      // Someone else's SRS0: keep it whole behind its forwarder's domain (SRS1), so the bounce goes back through them.
      const opaque = `${parsed[2]}${parsed[3]}`;
      return { local: `SRS1=${this.#hash(sender.domain, opaque)}=${sender.domain}=${opaque}`, domain };
    }
    if (parsed !== null) {
      // An SRS1: the first forwarder and its SRS0 part stay, only the hash is ours (the paper's "SRS1 → SRS1").
      const m = /^[^=]*=([^=]+)=(.*)$/s.exec(parsed[3] ?? '');
      if (m !== null) return { local: `SRS1=${this.#hash(m[1]!, m[2]!)}=${m[1]}=${m[2]}`, domain };
    }
    const stamp = this.#stamp(this.#opts.now());
    return { local: `SRS0=${this.#hash(stamp, sender.domain, sender.local)}=${stamp}=${sender.domain}=${sender.local}`, domain };
  }

  /**
   * The address an SRS local part of ours stands for: the original sender (SRS0), or the first forwarder's SRS0
   * address (SRS1). Throws SrsError when it is malformed, its hash is not ours, or it is too old.
   */
  reverse(local: string): Address {
    const m = /^srs([01])[=+-](.*)$/is.exec(local);
    if (m === null) throw new SrsError('syntax', 'not an SRS address');
    if (m[1] === '1') {
      const parts = /^([^=]+)=([^=]+)=(.*)$/s.exec(m[2]!);
      if (parts === null || parts[3] === '') throw new SrsError('syntax', 'malformed SRS1 address');
      const [, hash, forwarder, opaque] = parts as unknown as [string, string, string, string];
      this.#checkHash(hash, [forwarder, opaque]);
      return { local: `SRS0${opaque}`, domain: forwarder };
    }
    const parts = /^([^=]+)=([^=]+)=([^=]+)=(.+)$/s.exec(m[2]!);
    if (parts === null) throw new SrsError('syntax', 'malformed SRS0 address');
    const [, hash, stamp, domain, original] = parts as unknown as [string, string, string, string, string];
    this.#checkHash(hash, [stamp, domain, original]);
    this.#checkStamp(stamp);
    return { local: original, domain };
  }

  #hash(...fields: string[]): string {
    return hashWith(this.#opts.secrets[0]!, fields);
  }

  #checkHash(given: string, fields: string[]): void {
    const wanted = Buffer.from(given.toLowerCase());
    const ok = this.#opts.secrets.some((secret) => {
      const mine = Buffer.from(hashWith(secret, fields).toLowerCase());
      return mine.length === wanted.length && timingSafeEqual(mine, wanted);
    });
    if (!ok) throw new SrsError('hash', 'the SRS hash is not ours (forged or damaged address)');
  }

  #stamp(ms: number): string {
    const day = Math.floor(ms / DAY_MS) % STAMP_PERIOD;
    return `${BASE32[day >> 5]}${BASE32[day & 31]}`;
  }

  #checkStamp(stamp: string): void {
    const s = stamp.toUpperCase();
    const hi = BASE32.indexOf(s[0] ?? '');
    const lo = BASE32.indexOf(s[1] ?? '');
    if (s.length !== 2 || hi < 0 || lo < 0) throw new SrsError('syntax', 'malformed SRS timestamp');
    const today = Math.floor(this.#opts.now() / DAY_MS) % STAMP_PERIOD;
    // A stamp from the future (modulo the period) counts as very old, as libsrs2 does.
    const age = (today - ((hi << 5) | lo) + STAMP_PERIOD) % STAMP_PERIOD;
    if (age > this.#maxDays) throw new SrsError('expired', `the SRS address is ${age} days old (at most ${this.#maxDays})`);
  }
}

function hashWith(secret: Buffer, fields: readonly string[]): string {
  const mac = createHmac('sha1', secret);
  for (const f of fields) mac.update(f.toLowerCase());
  return mac.digest('base64').slice(0, HASH_LENGTH);
}
