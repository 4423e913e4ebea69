// DKIM public keys from their DNS records (RFC 6376 §3.6.1; Ed25519 per RFC 8463 §4.2), parsed once per distinct
// record: a key object is made from the record's text the first time, then reused. Parsing a key costs more CPU than
// verifying a signature with it, and most mail comes from few keys.
import { createPublicKey, type KeyObject } from 'node:crypto';
import parseTags from 'mailauth/lib/parse-dkim-headers.js';
import { isNoRecord, type DnsResolve } from './dns-resolve.js';
import { rememberBounded } from '../cache/bounded-map.js';

export type PublicKeyLookup =
  | { readonly ok: true; readonly key: KeyObject; readonly type: 'rsa' | 'ed25519'; readonly bits: number; readonly hashes: readonly string[] | null }
  /** Why no key: the RFC 8601 result it gives the signature, and a comment. */
  | { readonly ok: false; readonly result: 'neutral' | 'permerror' | 'temperror' | 'policy'; readonly comment: string };

/** RFC 8301 §3.2: verifiers must not accept RSA keys under 1024 bits. */
const MIN_RSA_BITS = 1024;
const CACHE_ENTRIES = 1000;

export class DkimKeyCache {
  /** What each TXT answer said, by its records' text as received: the next message's lookup is one map access. */
  readonly #byAnswer = new Map<string, PublicKeyLookup>();

  /** The key published at `name` (selector._domainkey.domain), or why there is none. Never throws. */
  async lookup(resolve: DnsResolve, name: string): Promise<PublicKeyLookup> {
    let answer: string[][];
    try {
      answer = (await resolve(name, 'TXT')) as string[][];
    } catch (err) {
      if (isNoRecord(err)) return { ok: false, result: 'permerror', comment: 'no key' };
      return { ok: false, result: 'temperror', comment: `DNS failure: ${(err as { code?: string }).code ?? (err as Error).message}` };
    }
    // A TXT answer is a list of records, each a list of character-strings to join (RFC 6376 §3.6.2.2).
    const records = answer.map((r) => r.join(''));
    const text = records.join('\0');
    let found = this.#byAnswer.get(text);
    if (found === undefined) {
      found = read(records);
      rememberBounded(this.#byAnswer, text, found, CACHE_ENTRIES);
    }
    return found;
  }
}

/** What the records of one answer say: the key of the first DKIM1 record (parsed), or why there is none. */
function read(records: readonly string[]): PublicKeyLookup {
  const keys = records.filter((r) => !/^\s*v\s*=/.test(r) || /^\s*v\s*=\s*DKIM1\s*(;|$)/i.test(r));
  if (keys.length === 0) return { ok: false, result: 'permerror', comment: records.length === 0 ? 'no key' : 'unknown key version' };
  // Several key records at one name are ambiguous (§3.6.2.2 allows taking any one): the first is taken.
  return parseRecord((keys[0] as string).replace(/\s+/g, ''));
}

function parseRecord(record: string): PublicKeyLookup {
  const tags = parseTags(`DNS: TXT;${record}`).parsed as Record<string, { value?: unknown } | undefined>;
  const tag = (name: string) => (typeof tags[name]?.value === 'string' ? (tags[name]?.value as string) : null);
  const p = tag('p');
  if (p === null) return { ok: false, result: 'permerror', comment: 'invalid public key' };
  if (p === '') return { ok: false, result: 'permerror', comment: 'key revoked' };
  const k = (tag('k') ?? 'rsa').toLowerCase();
  if (k !== 'rsa' && k !== 'ed25519') return { ok: false, result: 'permerror', comment: 'unknown key type' };
  if (!/^[A-Za-z0-9+/]+=*$/.test(p)) return { ok: false, result: 'permerror', comment: 'invalid public key' };
  const der = Buffer.from(p, 'base64');
  let key: KeyObject;
  try {
    if (k === 'ed25519') {
      if (der.length !== 32) return { ok: false, result: 'permerror', comment: 'invalid public key' };
      key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: der.toString('base64url') }, format: 'jwk' });
    } else {
      // SubjectPublicKeyInfo, as RFC 6376 §3.6.1 says; some publish a bare RSAPublicKey (PKCS#1), accepted too.
      key = tryKey(der, 'spki') ?? tryKey(der, 'pkcs1') ?? fail();
      if (key.asymmetricKeyType !== 'rsa') return { ok: false, result: 'permerror', comment: 'unknown key type' };
    }
  } catch {
    return { ok: false, result: 'permerror', comment: 'invalid public key' };
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (k === 'rsa' && bits < MIN_RSA_BITS) return { ok: false, result: 'policy', comment: `weak key (${bits} bits)` };
  const h = tag('h');
  return { ok: true, key, type: k, bits, hashes: h === null ? null : h.toLowerCase().split(':').filter((x) => x !== '') };
}

function tryKey(der: Buffer, type: 'spki' | 'pkcs1'): KeyObject | null {
  try {
    return createPublicKey({ key: der, format: 'der', type });
  } catch {
    return null;
  }
}

function fail(): never {
  throw new Error('not a public key');
}
