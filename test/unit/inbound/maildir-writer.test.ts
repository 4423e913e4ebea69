// MaildirWriter on real files: tmp/ → new/, exact content, one copy per mailbox, nothing left behind on failure.
import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fsyncDirectory } from '../../../src/fs/directory.js';
import { GroupFsync } from '../../../src/fs/group-fsync.js';
import { MaildirNamer } from '../../../src/inbound/maildir-name.js';
import { MaildirWriter, type CopyHandle } from '../../../src/inbound/maildir-writer.js';
import { list, runningAsRoot } from '../../helpers/inbound-fixtures.js';
import { tempDir } from '../../helpers/temp-dir.js';

function writer(root: string, extra: Partial<ConstructorParameters<typeof MaildirWriter>[0]> = {}) {
  const namer = new MaildirNamer({ hostname: 'mx1', pid: 4242, now: () => new Date(1764000000123) });
  return new MaildirWriter({ root, namer, ...extra });
}

const header = Buffer.from('Return-Path: <a@example.net>\n');

test('a message lands in new/ with its exact content, nothing in tmp/', async (t) => {
  const root = join(await tempDir(t), 'mail');
  const w = writer(root);
  const m = await w.open(['alice'], header);
  await m.write(Buffer.from('Received: from x\n'));
  await m.write(Buffer.from('Subject: hi\n\nbody\n'));
  const copies = await m.commit();
  const expected = 'Return-Path: <a@example.net>\nReceived: from x\nSubject: hi\n\nbody\n';
  assert.deepEqual(copies, [{ mailbox: 'alice', folder: null, name: '1764000000.M123000P4242Q1.mx1', size: Buffer.byteLength(expected) }]);
  assert.deepEqual(await list(root, 'alice', 'new'), ['1764000000.M123000P4242Q1.mx1']);
  assert.deepEqual(await list(root, 'alice', 'tmp'), []);
  assert.deepEqual(await list(root, 'alice', 'cur'), []);
  assert.equal(await readFile(join(root, 'alice', 'new', '1764000000.M123000P4242Q1.mx1'), 'utf8'), expected);
  for (const sub of ['tmp', 'new', 'cur']) assert.equal((await stat(join(root, 'alice', sub))).mode & 0o777, 0o700, sub);
  assert.equal((await stat(join(root, 'alice', 'new', copies[0]!.name))).mode & 0o777, 0o600);
  await m.abort(); // after a commit: a no-op, the copy stays
  assert.equal((await list(root, 'alice', 'new')).length, 1);
  await w.close();
});

test('a message larger than the buffer is written in pieces and stays exact', async (t) => {
  const root = await tempDir(t);
  const w = writer(root, { bufferSize: 1024 });
  const m = await w.open(['bob'], header);
  const parts: Buffer[] = [header];
  for (let i = 0; i < 200; i++) {
    const line = Buffer.from(`line ${i} ${'x'.repeat(i * 7)}\n`);
    parts.push(line);
    await m.write(line);
  }
  const big = Buffer.alloc(5000, 'y');
  parts.push(big);
  await m.write(big);
  const [copy] = await m.commit();
  const expected = Buffer.concat(parts);
  assert.equal(copy?.size, expected.length);
  assert.deepEqual(await readFile(join(root, 'bob', 'new', copy!.name)), expected);
});

test('several mailboxes get one copy each, with distinct names', async (t) => {
  const root = await tempDir(t);
  const w = writer(root);
  const m = await w.open(['alice', 'bob', 'carol'], header);
  await m.write(Buffer.from('body\n'));
  const copies = await m.commit();
  assert.deepEqual(copies.map((c) => c.mailbox), ['alice', 'bob', 'carol']);
  assert.equal(new Set(copies.map((c) => c.name)).size, 3);
  for (const c of copies) {
    assert.deepEqual(await list(root, c.mailbox, 'new'), [c.name]);
    assert.deepEqual(await list(root, c.mailbox, 'tmp'), []);
    assert.equal(await readFile(join(root, c.mailbox, 'new', c.name), 'utf8'), 'Return-Path: <a@example.net>\nbody\n');
  }
});

test('abort leaves nothing, and is safe to repeat; commit after abort fails', async (t) => {
  const root = await tempDir(t);
  const w = writer(root);
  const m = await w.open(['alice', 'bob'], header);
  await m.write(Buffer.from('body\n'));
  await Promise.all([m.abort(), m.abort()]);
  await m.abort();
  for (const mb of ['alice', 'bob']) {
    assert.deepEqual(await list(root, mb, 'tmp'), []);
    assert.deepEqual(await list(root, mb, 'new'), []);
  }
  await assert.rejects(m.commit(), /aborted/);
  await assert.rejects(m.write(Buffer.from('x')), /already closed/);
});

test('open refuses duplicate, invalid or no mailboxes', async (t) => {
  const root = await tempDir(t);
  const w = writer(root);
  await assert.rejects(w.open(['a', 'a'], header), /duplicate/);
  await assert.rejects(w.open(['../etc'], header), /invalid mailbox name/);
  await assert.rejects(w.open(['..'], header), /invalid mailbox name/);
  await assert.rejects(w.open([], header), /no mailbox/);
  await w.close();
  await assert.rejects(w.open(['a'], header), /closed/);
});

test('new/ replaced by a file: commit fails and nothing is left in tmp/ or new/', async (t) => {
  const root = await tempDir(t);
  const w = writer(root);
  const first = await w.open(['alice'], header);
  await first.commit(); // the directories now exist and are cached
  await rm(join(root, 'alice', 'new'), { recursive: true });
  await writeFile(join(root, 'alice', 'new'), 'not a directory');
  const m = await w.open(['alice'], header);
  await m.write(Buffer.from('body\n'));
  await assert.rejects(m.commit(), { code: 'ENOTDIR' });
  assert.deepEqual(await list(root, 'alice', 'tmp'), []);
  assert.equal(await readFile(join(root, 'alice', 'new'), 'utf8'), 'not a directory');
  await m.abort();
  // Repaired: the next message goes through (the directory cache was dropped after the failure).
  await rm(join(root, 'alice', 'new'));
  const again = await w.open(['alice'], header);
  const [copy] = await again.commit();
  assert.deepEqual(await list(root, 'alice', 'new'), [copy!.name]);
});

test('a rename failing for the second mailbox: the first copy stays delivered, tmp/ is empty everywhere', async (t) => {
  const root = await tempDir(t);
  await mkdir(join(root, 'bob'), { recursive: true });
  await writeFile(join(root, 'bob', 'new'), 'not a directory');
  const w = writer(root);
  const m = await w.open(['alice', 'bob'], header);
  await assert.rejects(m.commit(), { code: 'ENOTDIR' });
  // Documented choice: a copy already public stays (the sender retries: a duplicate rather than a loss).
  assert.equal((await list(root, 'alice', 'new')).length, 1);
  assert.deepEqual(await list(root, 'alice', 'tmp'), []);
  assert.deepEqual(await list(root, 'bob', 'tmp'), []);
});

test('a mailbox whose directory cannot be created fails at open, leaving the other mailbox clean', async (t) => {
  const root = await tempDir(t);
  await writeFile(join(root, 'bob'), 'a file where the mailbox should be');
  const w = writer(root);
  await assert.rejects(w.open(['alice', 'bob'], header), { code: 'EEXIST' });
  assert.deepEqual(await list(root, 'alice', 'tmp'), []);
  assert.deepEqual(await list(root, 'alice', 'new'), []);
});

test('new/ not writable (skipped as root): commit fails and nothing is left', { skip: runningAsRoot && 'root ignores modes' }, async (t) => {
  const root = await tempDir(t);
  const w = writer(root);
  await (await w.open(['alice'], header)).commit();
  await chmod(join(root, 'alice', 'new'), 0o500);
  try {
    const m = await w.open(['alice'], header);
    await assert.rejects(m.commit(), { code: 'EACCES' });
    assert.deepEqual(await list(root, 'alice', 'tmp'), []);
    assert.equal((await list(root, 'alice', 'new')).length, 1);
  } finally {
    await chmod(join(root, 'alice', 'new'), 0o700); // so that the temp dir can be removed
  }
});

/** A file that fails its n-th write or its fsync, as a full or broken disk would. */
function failingFiles(fail: 'write' | 'datasync') {
  return async (path: string): Promise<CopyHandle> => {
    const { open } = await import('node:fs/promises');
    const real = await open(path, 'wx', 0o600);
    const eio = () => Object.assign(new Error(`EIO: ${fail}`), { code: fail === 'write' ? 'ENOSPC' : 'EIO' });
    return {
      write: (async (buffer: Buffer, offset: number, length: number) => {
        if (fail === 'write') throw eio();
        return real.write(buffer, offset, length);
      }) as unknown as CopyHandle['write'],
      datasync: async () => {
        if (fail === 'datasync') throw eio();
        return real.datasync();
      },
      close: () => real.close(),
    };
  };
}

test('a write failure is remembered, the writes go on, and commit reports it', async (t) => {
  const root = await tempDir(t);
  const w = writer(root, { bufferSize: 16, createFile: failingFiles('write') });
  const m = await w.open(['alice', 'bob'], header);
  await m.write(Buffer.from('a long line that does not fit the buffer\n')); // fails underneath, resolves anyway
  await m.write(Buffer.from('more\n'));
  await assert.rejects(m.commit(), { code: 'ENOSPC' });
  await m.abort();
  for (const mb of ['alice', 'bob']) {
    assert.deepEqual(await list(root, mb, 'tmp'), []);
    assert.deepEqual(await list(root, mb, 'new'), []);
  }
});

test('an fsync failure fails the commit and leaves nothing', async (t) => {
  const root = await tempDir(t);
  const w = writer(root, { createFile: failingFiles('datasync') });
  const m = await w.open(['alice'], header);
  await assert.rejects(m.commit(), { code: 'EIO' });
  assert.deepEqual(await list(root, 'alice', 'tmp'), []);
  assert.deepEqual(await list(root, 'alice', 'new'), []);
});

test('50 concurrent commits to one mailbox all land, with unique names, sharing directory fsyncs', async (t) => {
  const root = await tempDir(t);
  const synced: string[] = [];
  const dirSync = new GroupFsync(async (path) => {
    synced.push(path);
    await fsyncDirectory(path);
  });
  const w = writer(root, { dirSync });
  const results = await Promise.all(
    Array.from({ length: 50 }, async (_, i) => {
      const m = await w.open(['alice'], header);
      await m.write(Buffer.from(`message ${i}\n`));
      const [copy] = await m.commit();
      return { i, name: copy!.name };
    }),
  );
  const names = await list(root, 'alice', 'new');
  assert.equal(names.length, 50);
  assert.equal(new Set(results.map((r) => r.name)).size, 50);
  for (const r of results) {
    assert.equal(await readFile(join(root, 'alice', 'new', r.name), 'utf8'), `Return-Path: <a@example.net>\nmessage ${r.i}\n`);
  }
  assert.deepEqual(await list(root, 'alice', 'tmp'), []);
  const newDirSyncs = synced.filter((p) => p === join(root, 'alice', 'new')).length;
  assert.ok(newDirSyncs >= 1 && newDirSyncs <= 50);
  t.diagnostic(`50 commits, ${newDirSyncs} fsyncs of new/`);
  await w.close();
});

test('delivery never overwrites: a name already in new/ stays intact, the message takes the next counter value', async (t) => {
  const root = await tempDir(t);
  const w = writer(root);
  const first = await w.open(['alice'], header);
  await first.write(Buffer.from('first\n'));
  const [existing] = await first.commit();
  // A namer whose next name is one already delivered (a clock set back, a reused pid), then the real sequence.
  const namer = new MaildirNamer({ hostname: 'mx1', pid: 4242, now: () => new Date(1764000000123) });
  namer.next(); // counter 1 is taken
  let clashes = 1;
  const clashing = new MaildirWriter({ root, namer: { next: () => (clashes-- > 0 ? existing!.name : namer.next()) } });
  const second = await clashing.open(['alice'], header);
  await second.write(Buffer.from('second\n'));
  const [copy] = await second.commit();
  assert.equal(copy?.name, '1764000000.M123000P4242Q2.mx1');
  assert.equal(await readFile(join(root, 'alice', 'new', existing!.name), 'utf8'), 'Return-Path: <a@example.net>\nfirst\n', 'the first file is intact');
  assert.equal(await readFile(join(root, 'alice', 'new', copy!.name), 'utf8'), 'Return-Path: <a@example.net>\nsecond\n');
  assert.deepEqual(await list(root, 'alice', 'new'), [existing!.name, copy!.name].sort());
  assert.deepEqual(await list(root, 'alice', 'tmp'), []);
});
