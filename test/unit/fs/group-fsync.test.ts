// GroupFsync with a fake fsync: a caller is released only by an fsync that started after it asked.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fsyncDirectory } from '../../../src/fs/directory.js';
import { GroupFsync } from '../../../src/fs/group-fsync.js';
import { tempDir } from '../../helpers/temp-dir.js';

/** A controllable fsync: each call is recorded and finishes when the test says so. */
function fakeFsync() {
  const calls: { path: string; finish: (err?: Error) => void }[] = [];
  const waiters: (() => void)[] = [];
  const sync = (path: string): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      calls.push({ path, finish: (err) => (err ? reject(err) : resolve()) });
      waiters.shift()?.();
    });
  /** Resolves once the fsync number n (1-based) has started. */
  const started = (n: number): Promise<void> =>
    calls.length >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push(() => void started(n).then(resolve)));
  return { sync, calls, started };
}

function track(p: Promise<void>) {
  const state = { settled: false as boolean | 'rejected' };
  const done = p.then(
    () => void (state.settled = true),
    () => void (state.settled = 'rejected'),
  );
  return { state, done };
}

test('a caller arriving during an fsync waits for the next one; callers queued meanwhile share it', async () => {
  const fake = fakeFsync();
  const group = new GroupFsync(fake.sync);
  const a = track(group.sync('/d'));
  await fake.started(1);
  // b and c ask while fsync #1 runs: their renames may have come after it started, so #1 must not release them.
  const b = track(group.sync('/d'));
  const c = track(group.sync('/d'));
  fake.calls[0]?.finish();
  await a.done;
  await fake.started(2);
  assert.equal(b.state.settled, false);
  assert.equal(c.state.settled, false);
  const d = track(group.sync('/d')); // arrives during #2: waits for #3
  fake.calls[1]?.finish();
  await Promise.all([b.done, c.done]);
  assert.equal(d.state.settled, false);
  await fake.started(3);
  fake.calls[2]?.finish();
  await d.done;
  assert.equal(fake.calls.length, 3, 'four callers, three fsyncs');
  assert.deepEqual([a, b, c, d].map((x) => x.state.settled), [true, true, true, true]);
});

test('an idle directory is synced at once, and directories are independent', async () => {
  const fake = fakeFsync();
  const group = new GroupFsync(fake.sync);
  const x = track(group.sync('/x'));
  const y = track(group.sync('/y'));
  await fake.started(2);
  assert.deepEqual(fake.calls.map((c) => c.path), ['/x', '/y']);
  fake.calls[1]?.finish();
  await y.done;
  assert.equal(x.state.settled, false);
  fake.calls[0]?.finish();
  await x.done;
});

test('a failed fsync rejects exactly the callers it was serving', async () => {
  const fake = fakeFsync();
  const group = new GroupFsync(fake.sync);
  const a = group.sync('/d');
  await fake.started(1);
  const b = group.sync('/d');
  fake.calls[0]?.finish(Object.assign(new Error('EIO'), { code: 'EIO' }));
  await assert.rejects(a, { code: 'EIO' });
  await fake.started(2);
  fake.calls[1]?.finish();
  await b;
  const drained = group.drain();
  await drained;
});

test('the real fsyncDirectory works on a directory and fails on a missing one', async (t) => {
  const dir = await tempDir(t);
  await mkdir(join(dir, 'new'));
  await fsyncDirectory(join(dir, 'new'));
  await assert.rejects(fsyncDirectory(join(dir, 'missing')), { code: 'ENOENT' });
});
