// Password hashes: scrypt (RFC 7914, memory-hard) with a per-user salt, written as "$scrypt$ln=15,r=8,p=1$salt$hash".
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/** scrypt's cost: N = 2^ln (CPU and memory), r (block size), p (parallelism); memory is 128·N·r·p bytes. */
export interface ScryptParams {
  readonly ln: number;
  readonly r: number;
  readonly p: number;
}

/**
 * 2^15 × 8 × 128 = 32 MiB and some 50-100 ms per check on a current core: the interactive-login figure of the
 * scrypt paper and of Go's x/crypto. The parameters are written in each hash, so raising them later only
 * affects passwords set from then on.
 */
export const DEFAULT_PARAMS: ScryptParams = { ln: 15, r: 8, p: 1 };

/** A hash as read from the passwords file. */
export interface PasswordHash {
  readonly params: ScryptParams;
  readonly salt: Buffer;
  readonly key: Buffer;
  /** The text it was read from. */
  readonly text: string;
}

const SALT_BYTES = 16;
const KEY_BYTES = 32;
/** Caps on what a hash string may ask for: a damaged or hostile line must not make one check take a gigabyte. */
const MAX_LN = 22;
const MAX_R = 32;
const MAX_P = 16;
const MAX_MEMORY = 1024 ** 3;

const HASH = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]{16,88})\$([A-Za-z0-9+/]{22,88})$/;

/** Thrown for a hash string that is not ours or asks for unreasonable parameters. */
export class BadHashError extends Error {}

/**
 * The bytes that are hashed: Unicode NFKC form (as SASLprep, RFC 4013, prepares passwords), UTF-8. The same
 * password typed on a phone and on a laptop may arrive composed differently.
 */
function passwordBytes(password: string): Buffer {
  return Buffer.from(password.normalize('NFKC'), 'utf8');
}

function derive(password: string, salt: Buffer, params: ScryptParams, length: number): Promise<Buffer> {
  const memory = 128 * 2 ** params.ln * params.r * params.p;
  const options: ScryptOptions = { N: 2 ** params.ln, r: params.r, p: params.p, maxmem: 2 * memory + 1024 * 1024 };
  // The async form runs in libuv's thread pool, so a check never blocks the event loop.
  return new Promise((resolve, reject) => scrypt(passwordBytes(password), salt, length, options, (err, key) => (err === null ? resolve(key) : reject(err))));
}

export function checkParams(params: ScryptParams): void {
  const { ln, r, p } = params;
  if (ln < 1 || ln > MAX_LN || r < 1 || r > MAX_R || p < 1 || p > MAX_P || 128 * 2 ** ln * r * p > MAX_MEMORY) {
    throw new BadHashError(`scrypt parameters ln=${ln},r=${r},p=${p} are out of range (ln 1-${MAX_LN}, r 1-${MAX_R}, p 1-${MAX_P}, at most 1 GiB)`);
  }
}

/** A new hash of `password` with a fresh random salt. */
export async function hashPassword(password: string, params: ScryptParams = DEFAULT_PARAMS): Promise<string> {
  checkParams(params);
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, params, KEY_BYTES);
  return `$scrypt$ln=${params.ln},r=${params.r},p=${params.p}$${b64(salt)}$${b64(key)}`;
}

export function parseHash(text: string): PasswordHash {
  const m = HASH.exec(text);
  if (m === null) throw new BadHashError('not a scrypt hash ("$scrypt$ln=N,r=N,p=N$salt$hash", as `facteur passwd` writes)');
  const params = { ln: Number(m[1]), r: Number(m[2]), p: Number(m[3]) };
  checkParams(params);
  return { params, salt: Buffer.from(m[4] as string, 'base64'), key: Buffer.from(m[5] as string, 'base64'), text };
}

/** Whether `password` matches; constant time in the comparison, and always the full scrypt cost. */
export async function verifyPassword(password: string, hash: PasswordHash): Promise<boolean> {
  const key = await derive(password, hash.salt, hash.params, hash.key.length);
  return timingSafeEqual(key, hash.key);
}

/**
 * A hash no password matches, with the given cost: checking an unknown login against it takes as long as
 * checking a known one, so the time of a refusal does not tell whether the user exists.
 */
export function unmatchableHash(params: ScryptParams): PasswordHash {
  return { params, salt: randomBytes(SALT_BYTES), key: randomBytes(KEY_BYTES), text: '' };
}

/** Base64 without padding, as PHC strings write it. */
const b64 = (b: Buffer): string => b.toString('base64').replace(/=+$/, '');
