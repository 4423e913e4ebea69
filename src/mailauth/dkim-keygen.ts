// Making a DKIM key: the private key file (mode 0600, never replacing one) and the TXT record that publishes it.
import { generateKeyPair as generateKeyPairCb, type KeyObject } from 'node:crypto';
import { link, mkdir, open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { domainKeyDir, KEY_SUFFIX } from './dkim-keys.js';

const generateKeyPair = promisify(generateKeyPairCb);

export type KeyAlgorithm = 'rsa' | 'ed25519';

/** RFC 8301 §3.2 asks for at least 2048 bits; 2048 still fits one UDP DNS answer of 512 octets. */
const RSA_BITS = 2048;

export class KeyExistsError extends Error {
  constructor(readonly file: string) {
    super(`a key already exists in ${file}, and is never replaced: give another selector (--selector NAME) for a new key`);
    this.name = 'KeyExistsError';
  }
}

export interface NewKey {
  readonly file: string;
  /** The record to publish, one line: `sel._domainkey.example.org. IN TXT "v=DKIM1; k=rsa; p=…"`. */
  readonly record: string;
}

/**
 * Makes a key for `domain` under `keyDir` (<data_dir>/dkim). The file appears whole or not at all: it is written
 * under a temporary name, flushed, then linked to its name, which fails if that name exists (so two keygens at once
 * cannot replace each other's key either).
 */
export async function generateDkimKey(keyDir: string, domain: string, selector: string, algorithm: KeyAlgorithm): Promise<NewKey> {
  const dir = domainKeyDir(keyDir, domain);
  const file = join(dir, `${selector}${KEY_SUFFIX}`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const { privateKey, publicKey } = algorithm === 'rsa' ? await generateKeyPair('rsa', { modulusLength: RSA_BITS }) : await generateKeyPair('ed25519');
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' });
  const tmp = join(dir, `.${selector}.${process.pid}.tmp`);
  const handle = await open(tmp, 'wx', 0o600);
  try {
    await handle.writeFile(pem);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await link(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new KeyExistsError(file);
    throw err;
  } finally {
    await unlink(tmp).catch(() => {});
  }
  const dirHandle = await open(dir, 'r');
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
  return { file, record: dnsRecord(domain, selector, publicKey) };
}

/**
 * The TXT record for a public key (RFC 6376 §3.6.1): p= is the DER SubjectPublicKeyInfo for RSA, and the bare
 * 32-octet key for Ed25519 (RFC 8463 §4.2). A character-string holds at most 255 octets (RFC 1035 §3.3), so a longer
 * value is split into several quoted strings, which the DNS joins back (RFC 6376 §3.6.2.2).
 */
export function dnsRecord(domain: string, selector: string, publicKey: KeyObject): string {
  const type = publicKey.asymmetricKeyType;
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const p = type === 'ed25519' ? spki.subarray(spki.length - 32).toString('base64') : spki.toString('base64');
  const value = `v=DKIM1; k=${type === 'ed25519' ? 'ed25519' : 'rsa'}; p=${p}`;
  const strings: string[] = [];
  for (let i = 0; i < value.length; i += 255) strings.push(`"${value.slice(i, i + 255)}"`);
  return `${selector}._domainkey.${domain.toLowerCase()}. IN TXT ${strings.join(' ')}`;
}
