// DKIM test fixtures: keys made by the keygen code itself, and their printed records turned into zone entries.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DkimKeys } from '../../src/mailauth/dkim-keys.js';
import { generateDkimKey, type KeyAlgorithm } from '../../src/mailauth/dkim-keygen.js';

/** `sel._domainkey.example.org. IN TXT "v=DKIM1; …" "…"` → the name and the character-strings, as the DNS serves them. */
export function parseTxtRecord(record: string): { name: string; strings: string[] } {
  const m = /^(\S+)\.\s+IN\s+TXT\s+(.*)$/.exec(record);
  if (m === null) throw new Error(`not a TXT record line: ${record}`);
  const strings = [...(m[2] as string).matchAll(/"([^"]*)"/g)].map((x) => x[1] as string);
  return { name: m[1] as string, strings };
}

export interface TestKeys {
  readonly keyDir: string;
  readonly keys: DkimKeys;
  /** Zone entries publishing every key made: name → TXT records. */
  readonly txt: Record<string, { TXT: string[][] }>;
}

/** Makes keys with `generateDkimKey` in a new folder (one per [domain, selector, algorithm]) and loads them. */
export async function makeTestKeys(specs: readonly (readonly [string, string, KeyAlgorithm])[]): Promise<TestKeys> {
  const keyDir = join(await mkdtemp(join(tmpdir(), 'facteur-dkim-')), 'dkim');
  const txt: Record<string, { TXT: string[][] }> = {};
  for (const [domain, selector, algorithm] of specs) {
    const { record } = await generateDkimKey(keyDir, domain, selector, algorithm);
    const { name, strings } = parseTxtRecord(record);
    txt[name] = { TXT: [strings] };
  }
  const keys = await DkimKeys.load(keyDir, [...new Set(specs.map((s) => s[0]))]);
  return { keyDir, keys, txt };
}
