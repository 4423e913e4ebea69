// --compare-postfix runs the shared side-by-side scripts and reports their last two lines and ratio as printed.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatSharedScripts, runSharedScripts } from '../../../bench/shared-scripts.js';

const isRoot = process.getuid?.() === 0;

test('the scripts\' summary lines are kept verbatim and their figures read', { skip: isRoot ? false : 'the scripts run as root only' }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'facteur-shared-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'compare-inbound.sh'), [
    'echo "setting up"',
    'echo "postfix runs: 1 2 3  facteur runs: 4 5 6"',
    'echo "inbound 4096B x 32 sessions: facteur 1346.3 msg/s, Postfix 1065.2 msg/s, ratio 1.26 (goal >= 2.0)"',
    'exit 1', // under the goal: still a figure
  ].join('\n'));
  await writeFile(join(dir, 'compare-outbound.sh'), 'echo "compare-outbound: setup-postfix.sh failed"; exit 1\n');
  const [inbound, outbound] = await runSharedScripts(dir, dir, () => undefined);
  assert.deepEqual(inbound, {
    script: 'compare-inbound.sh',
    lines: ['postfix runs: 1 2 3  facteur runs: 4 5 6', 'inbound 4096B x 32 sessions: facteur 1346.3 msg/s, Postfix 1065.2 msg/s, ratio 1.26 (goal >= 2.0)'],
    facteurMsgsPerSec: 1346.3,
    postfixMsgsPerSec: 1065.2,
    ratio: 1.26,
    problem: null,
  });
  assert.equal(outbound?.ratio, null);
  assert.match(outbound?.problem ?? '', /no summary line \(exit 1\)/);
  assert.match(formatSharedScripts([inbound!, outbound!]), /ratio 1\.26 \(goal >= 2\.0\)/);
});

test('a missing folder, or a user who is not root, is said instead of a figure', async () => {
  const [result] = await runSharedScripts('/nonexistent-facteur-shared', '/', () => undefined);
  assert.equal(result?.ratio, null);
  assert.match(result?.problem ?? '', /not found/);
  assert.match(formatSharedScripts([result!]), /compare-inbound\.sh: not run: /);
});
