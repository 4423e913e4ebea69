// QueueStore with a shared GroupFsync: concurrent commits share directory fsyncs, and each is covered by one.
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { test } from 'node:test';
import { fsyncDirectory } from '../../../src/fs/directory.js';
import { GroupFsync } from '../../../src/fs/group-fsync.js';
import { QueueStore } from '../../../src/outbound/queue-store.js';
import { deferred, logger, ManualTime, storeItem } from '../../helpers/queue-fixtures.js';
import { tempDir } from '../../helpers/temp-dir.js';

const N = 20;

/** Counts sync() requests; the first fsync is held until every request has come, so the grouping is certain. */
class HeldGroup extends GroupFsync {
  requests = 0;
  readonly allAsked = deferred<void>();

  override sync(path: string): Promise<void> {
    if (++this.requests === N) this.allAsked.resolve();
    return super.sync(path);
  }
}

test('concurrent commits and removals share directory fsyncs, each released by one that saw its rename', async (t) => {
  const dir = await tempDir(t);
  /** The directory's names when each fsync started: what that fsync covers. */
  const covered: Set<string>[] = [];
  let group: HeldGroup | null = null;
  group = new HeldGroup(async (path) => {
    covered.push(new Set(await readdir(path)));
    if (covered.length === 1) await group?.allAsked.promise;
    await fsyncDirectory(path);
  });
  const { store } = await QueueStore.open({ dir, logger: logger(), now: new ManualTime().read, groupFsync: group });

  const committed = await Promise.all(
    Array.from({ length: N }, async (_, i) => {
      const item = await storeItem(store, { to: [`r${i}@dest.test`] });
      // Resolved: some fsync that started after the rename covers the .msg (the 250 may now be sent).
      assert.ok(covered.some((names) => names.has(`${item.id}.msg`)), `${item.id}.msg is covered by an fsync`);
      return item;
    }),
  );
  assert.equal(group.requests, N);
  assert.equal(covered.length, 2, 'the first fsync and one for everyone who asked meanwhile');

  group.requests = 0;
  const before = covered.length;
  await Promise.all(committed.map((item) => store.remove(item.id)));
  assert.deepEqual(await readdir(dir), []);
  assert.ok(covered.length - before < N, `removals share fsyncs (${covered.length - before} for ${N})`);
});

test('removing a delivered message (durable: false) flushes no folder; queue delete (the default) does', async (t) => {
  const dir = await tempDir(t);
  let flushes = 0;
  const group = new GroupFsync(async (path) => {
    flushes++;
    await fsyncDirectory(path);
  });
  const { store } = await QueueStore.open({ dir, logger: logger(), now: new ManualTime().read, groupFsync: group });
  const delivered = await storeItem(store, { to: ['a@dest.test'] });
  const deleted = await storeItem(store, { to: ['b@dest.test'] });
  flushes = 0;
  assert.equal(await store.remove(delivered.id, { durable: false }), true);
  assert.equal(flushes, 0);
  assert.equal(await store.remove(deleted.id), true);
  assert.equal(flushes, 1);
  assert.deepEqual(await readdir(dir), []);
});
