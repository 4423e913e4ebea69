// The SRS secrets file: made once, mode 0600, then read as it is.
import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadSrsSecrets, readSrsSecrets } from '../../../src/srs/srs-secret.js';
import { tempDir } from '../../helpers/temp-dir.js';

test('a missing file is made with one random secret, mode 0600, and read again the same', async (t) => {
  const file = join(await tempDir(t), 'sub', 'srs-secret');
  assert.equal(await readSrsSecrets(file), null);
  const first = await loadSrsSecrets(file);
  assert.equal(first.length, 1);
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  assert.deepEqual(await loadSrsSecrets(file), first);
  assert.match(await readFile(file, 'utf8'), /^[A-Za-z0-9+/=]{44}\n$/);
});

test('several secrets, comments and blank lines; an empty file is an error that names it', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'srs');
  await writeFile(file, '# new first\nnew\n\nold\n');
  assert.deepEqual((await loadSrsSecrets(file)).map(String), ['new', 'old']);
  await writeFile(file, '# nothing\n');
  await assert.rejects(loadSrsSecrets(file), new RegExp(`^Error: ${file}: the SRS secrets file holds no secret`));
});
