// Greylisting's file: written at close, read back at open, private, and a damaged one kept aside.
import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { GREYLIST_FILE, GreylistFile } from '../../../src/greylist/greylist-file.js';
import type { GreylistRules } from '../../../src/greylist/greylist-state.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { tempDir } from '../../helpers/temp-dir.js';

const rules: GreylistRules = { delay: 300_000, expire: 86_400_000, lifetime: 35 * 86_400_000, autoWhitelist: 5 };
const now = () => 1_700_000_000_000;

test('the state survives a close and an open; the file is private', async (t) => {
  const dataDir = await tempDir(t);
  const first = GreylistFile.open({ dataDir, rules, logger: silentLogger(), now });
  first.state.decide('192.0.2.0/24', 'k', now());
  first.changed();
  await first.close();
  assert.equal((await stat(join(dataDir, GREYLIST_FILE))).mode & 0o777, 0o600);
  const second = GreylistFile.open({ dataDir, rules, logger: silentLogger(), now: () => now() + 300_000 });
  assert.equal(second.state.decide('192.0.2.0/24', 'k', now() + 300_000).why, 'retried');
  await second.close();
});

test('a damaged file is moved aside and greylisting starts afresh', async (t) => {
  const dataDir = await tempDir(t);
  await writeFile(join(dataDir, GREYLIST_FILE), '{"version":1,"triples":[');
  const file = GreylistFile.open({ dataDir, rules, logger: silentLogger(), now });
  assert.deepEqual(file.state.size, { triples: 0, networks: 0 });
  assert.equal(await readFile(join(dataDir, `${GREYLIST_FILE}.corrupt`), 'utf8'), '{"version":1,"triples":[');
  await file.close();
});

test('entries past their time are pruned when the file is read', async (t) => {
  const dataDir = await tempDir(t);
  const snapshot = { version: 1, triples: [['old', 1, 0, 1], ['fresh', now() - 1000, 0, now() - 1000]], networks: [] };
  await writeFile(join(dataDir, GREYLIST_FILE), JSON.stringify(snapshot));
  const file = GreylistFile.open({ dataDir, rules, logger: silentLogger(), now });
  assert.deepEqual(file.state.size, { triples: 1, networks: 0 });
  await file.close();
  const saved = JSON.parse(await readFile(join(dataDir, GREYLIST_FILE), 'utf8')) as { triples: unknown[][] };
  assert.deepEqual(saved.triples.map((r) => r[0]), ['fresh']);
});
