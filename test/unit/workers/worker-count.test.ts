// The `workers` key: "auto" or 1..64, "auto" meaning one worker per CPU; anything else is a config error.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ConfigError } from '../../../src/config/config-error.js';
import { loadConfig } from '../../../src/config/load-config.js';
import { MAX_WORKERS, workerCount } from '../../../src/workers/worker-count.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'facteur-workers-'));
});
after(() => rm(dir, { recursive: true, force: true }));

const load = async (toml: string) => {
  const file = join(dir, 'f.toml');
  await writeFile(file, toml);
  return loadConfig(file, { machineName: 'mx.test' });
};

test('workers: 1 by default, "auto" or a number as written', async () => {
  assert.equal((await load('')).workers, 1);
  assert.equal((await load('workers = "auto"\n')).workers, 'auto');
  assert.equal((await load('workers = 1\n')).workers, 1);
  assert.equal((await load('workers = 3\n')).workers, 3);
});

for (const [value, found] of [
  ['0', '0'],
  ['65', '65'],
  ['1.5', '1.5'],
  ['"two"', '"two"'],
  ['true', 'true'],
] as const) {
  test(`workers = ${value} is refused`, async () => {
    await assert.rejects(load(`workers = ${value}\n`), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, new RegExp(`: workers: expected "auto" or a whole number from 1 to ${MAX_WORKERS}`));
      assert.ok(err.message.includes(found), err.message);
      return true;
    });
  });
}

test('"auto" is one per CPU, at least 1 and at most MAX_WORKERS; a number is itself', () => {
  const cases: [number | 'auto', number, number][] = [
    ['auto', 2, 2],
    ['auto', 1, 1],
    ['auto', 0, 1],
    ['auto', 500, MAX_WORKERS],
    [3, 2, 3],
    [1, 8, 1],
  ];
  for (const [setting, cpus, expected] of cases) assert.equal(workerCount(setting, () => cpus), expected, `${setting} with ${cpus} CPUs`);
});
