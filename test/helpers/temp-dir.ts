// A fresh folder under os.tmpdir() for one test, removed when the test ends.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

export async function tempDir(t: TestContext, prefix = 'facteur-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  // maxRetries: a clean-up racing a last write in flight (ENOTEMPTY) tries again instead of failing the test.
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 3 }));
  return dir;
}
