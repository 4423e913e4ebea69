// The DKIM private keys of the signing domains: <data_dir>/dkim/<domain>/<selector>.key, one PEM (PKCS#8) key per
// file, RSA or Ed25519, readable by facteur's user only. The file name is the selector because a selector names one
// DNS record, which publishes one key (RFC 6376 §3.6.2.1).
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

export type DkimAlgorithm = 'rsa-sha256' | 'ed25519-sha256';

export interface DkimKey {
  /** The d= domain, lower-cased. */
  readonly domain: string;
  /** The s= selector. */
  readonly selector: string;
  readonly algorithm: DkimAlgorithm;
  readonly privateKey: KeyObject;
  readonly file: string;
}

/** A problem with the keys of one listed domain, for "FILE: dkim.domains: problem" lines. */
export class DkimKeyError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join('\n'));
    this.name = 'DkimKeyError';
  }
}

export const KEY_SUFFIX = '.key';
/** RFC 6376 §3.1 selector: dot-separated labels; kept to letters, digits and inner hyphens, as DNS names are. */
export const SELECTOR = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
/** RFC 8301 §3.2: verifiers must refuse RSA keys under 1024 bits, so signing with one would be pointless. */
const MIN_RSA_BITS = 1024;

/** The folder of a domain's keys. */
export function domainKeyDir(keyDir: string, domain: string): string {
  return join(keyDir, domain.toLowerCase());
}

export class DkimKeys {
  readonly #byDomain: ReadonlyMap<string, readonly DkimKey[]>;

  constructor(keys: readonly DkimKey[]) {
    const byDomain = new Map<string, DkimKey[]>();
    for (const k of keys) byDomain.set(k.domain, [...(byDomain.get(k.domain) ?? []), k]);
    this.#byDomain = byDomain;
  }

  /**
   * Loads the keys of every listed domain from `keyDir` (<data_dir>/dkim). Throws DkimKeyError naming every listed
   * domain without a usable key and every key file that cannot be used (unreadable, not a key, readable by others).
   */
  static async load(keyDir: string, domains: readonly string[]): Promise<DkimKeys> {
    const keys: DkimKey[] = [];
    const problems: string[] = [];
    for (const domain of domains) {
      const found = await loadDomain(keyDir, domain.toLowerCase(), problems);
      if (found.length === 0 && !problems.some((p) => p.startsWith(`${domain}:`))) {
        problems.push(`${domain}: no key in ${domainKeyDir(keyDir, domain)}/ (make one with: facteur dkim keygen ${domain})`);
      }
      keys.push(...found);
    }
    if (problems.length > 0) throw new DkimKeyError(problems);
    return new DkimKeys(keys);
  }

  /** The listed domains that have keys. */
  get domains(): readonly string[] {
    return [...this.#byDomain.keys()];
  }

  /**
   * The keys to sign with for mail from `domain`: its own, or with `parents` the nearest listed parent's (facteur's
   * bounces come from `hostname`, e.g. mx.example.org, which signs with example.org's keys; relaxed DMARC alignment
   * accepts that, RFC 7489 §3.1.1). Empty when the domain is not listed.
   */
  keysFor(domain: string, opts: { parents?: boolean } = {}): readonly DkimKey[] {
    let d = domain.toLowerCase().replace(/\.$/, '');
    for (;;) {
      const keys = this.#byDomain.get(d);
      if (keys !== undefined) return keys;
      const dot = d.indexOf('.');
      if (opts.parents !== true || dot < 0) return [];
      d = d.slice(dot + 1);
    }
  }
}

async function loadDomain(keyDir: string, domain: string, problems: string[]): Promise<DkimKey[]> {
  const dir = domainKeyDir(keyDir, domain);
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith(KEY_SUFFIX)).sort();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return [];
    problems.push(`${domain}: cannot read ${dir}: ${describe(err)}`);
    return [];
  }
  const keys: DkimKey[] = [];
  for (const name of names) {
    const file = join(dir, name);
    const selector = name.slice(0, -KEY_SUFFIX.length);
    if (!SELECTOR.test(selector)) {
      problems.push(`${domain}: ${file}: "${selector}" is not a valid selector (letters, digits, inner hyphens, dots)`);
      continue;
    }
    try {
      keys.push(await loadKey(file, domain, selector));
    } catch (err) {
      problems.push(`${domain}: ${file}: ${describe(err)}`);
    }
  }
  return keys;
}

/** One key file: a private key only facteur's user may read (as OpenDKIM insists), RSA of 1024 bits or more, or Ed25519. */
export async function loadKey(file: string, domain: string, selector: string): Promise<DkimKey> {
  const st = await stat(file);
  if ((st.mode & 0o077) !== 0) {
    throw new Error(`other users may read or change it (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}): run chmod 600 ${file}`);
  }
  const pem = await readFile(file, 'utf8');
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    throw new Error('not a PEM private key');
  }
  const type = privateKey.asymmetricKeyType;
  if (type === 'ed25519') return { domain, selector, algorithm: 'ed25519-sha256', privateKey, file };
  if (type === 'rsa') {
    const bits = privateKey.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) throw new Error(`an RSA key of ${bits} bits is too short (at least ${MIN_RSA_BITS}; 2048 recommended, RFC 8301 §3.2)`);
    return { domain, selector, algorithm: 'rsa-sha256', privateKey, file };
  }
  throw new Error(`a key of type ${type ?? 'unknown'}: DKIM signs with RSA or Ed25519 keys only`);
}

function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'EACCES') return 'permission denied';
  if (e.code === 'ENOENT') return 'no such file';
  return e.message;
}
