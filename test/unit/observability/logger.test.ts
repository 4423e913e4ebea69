// The log file holds client and envelope addresses: it is created private, and an existing one is made private.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createLogger } from '../../../src/observability/logger.js';

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'facteur-log-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('a new log file is created with mode 0600', async (t) => {
  const file = join(await tempDir(t), 'logs', 'facteur.log');
  const logger = createLogger({ level: 'info', file });
  logger.warn({ event: 'test' }, 'written at once');
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  assert.match(await readFile(file, 'utf8'), /"event":"test"/);
});

test('an existing world-readable log file is narrowed to 0600 and appended to', async (t) => {
  const file = join(await tempDir(t), 'facteur.log');
  await writeFile(file, 'older line\n', { mode: 0o644 });
  const logger = createLogger({ level: 'info', file });
  logger.error({ event: 'test' }, 'written at once');
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  assert.match(await readFile(file, 'utf8'), /^older line\n.*"event":"test"/s);
});
