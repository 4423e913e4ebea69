// DurableFile on real files: into place without ever replacing a file, the head that follows the name, the prefix
// given at commit (in memory, and after the file spilled to disk), errors kept until commit, abort.
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fsyncDirectory } from '../../../src/fs/directory.js';
import { DurableFile, replaceFileDurably, type DurablePlace } from '../../../src/fs/durable-file.js';
import { createQuickFile, type QuickFile } from '../../../src/fs/quick-file.js';
import { tempDir } from '../../helpers/temp-dir.js';

/** Names n1, n2, ... unless `script` gives the first ones. */
function names(...script: string[]): () => string {
  let n = 0;
  return () => script.shift() ?? `n${++n}`;
}

/** createFile that counts the tmp files made. */
function counting(): { created: string[]; createFile: (path: string) => Promise<QuickFile> } {
  const created: string[] = [];
  return { created, createFile: (path) => (created.push(path), createQuickFile(path)) };
}

async function durable(t: TestContext, place: Omit<DurablePlace, 'dir'>, opts: { bufferSize?: number } = {}) {
  const dir = await tempDir(t);
  const { created, createFile } = counting();
  const file = new DurableFile({ dir, ...place }, { syncDir: fsyncDirectory, createFile, ...opts });
  return { dir, file, created };
}

test('a file is written under a tmp name and given its final name at commit; nothing else is left', async (t) => {
  const { dir, file, created } = await durable(t, { nextName: names() });
  await file.write(Buffer.from('hello '));
  await file.write(Buffer.from('world\n'));
  assert.match((await readdir(dir))[0] ?? '', /^n1\.[0-9a-f]{12}\.tmp$/, 'only the tmp file while writing');
  assert.deepEqual(await file.commit(), { name: 'n1', path: join(dir, 'n1'), size: 12 });
  assert.deepEqual(await readdir(dir), ['n1']);
  assert.equal(await readFile(join(dir, 'n1'), 'utf8'), 'hello world\n');
  assert.equal(created.length, 1);
  assert.equal(file.inMemory()?.toString(), 'hello world\n', 'it never left the buffer');
  await file.abort(); // after a commit: nothing to do
  assert.deepEqual(await readdir(dir), ['n1']);
  await assert.rejects(file.write(Buffer.from('x')), /already committed/);
});

test('never overwrites: a name already taken keeps its file, and the new file takes the next name', async (t) => {
  const { dir, file } = await durable(t, { nextName: names('taken', 'free') });
  await writeFile(join(dir, 'taken'), 'the first file\n');
  await file.write(Buffer.from('the second file\n'));
  const committed = await file.commit();
  assert.equal(committed.name, 'free');
  assert.equal(await readFile(join(dir, 'taken'), 'utf8'), 'the first file\n', 'intact');
  assert.equal(await readFile(join(dir, 'free'), 'utf8'), 'the second file\n');
  assert.deepEqual((await readdir(dir)).sort(), ['free', 'taken']);
});

test('a name that keeps clashing fails the commit after a few tries, and leaves only the files that were there', async (t) => {
  const { dir, file } = await durable(t, { nextName: () => 'taken' });
  await writeFile(join(dir, 'taken'), 'mine\n');
  await file.write(Buffer.from('theirs\n'));
  await assert.rejects(file.commit(), { code: 'EEXIST' });
  assert.deepEqual(await readdir(dir), ['taken']);
  assert.equal(await readFile(join(dir, 'taken'), 'utf8'), 'mine\n');
});

test('a head that depends on the name is rewritten when a clash changes the name, large file or small', async (t) => {
  for (const size of [10, 300_000]) {
    const body = Buffer.alloc(size, 'b');
    const { dir, file, created } = await durable(t, { nextName: names('aa', 'bbbb'), head: (name) => Buffer.from(`id=${name}\n`) }, { bufferSize: 1024 });
    await writeFile(join(dir, 'aa'), 'someone else\n');
    await file.write(body);
    const committed = await file.commit();
    assert.equal(committed.name, 'bbbb');
    assert.equal(committed.size, size, 'the size does not count the head');
    assert.deepEqual(await readFile(join(dir, 'bbbb')), Buffer.concat([Buffer.from('id=bbbb\n'), body]));
    assert.equal(await readFile(join(dir, 'aa'), 'utf8'), 'someone else\n');
    assert.deepEqual((await readdir(dir)).sort(), ['aa', 'bbbb'], 'no tmp file left');
    assert.equal(created.length, 2, 'the rewrite is a second tmp file');
  }
});

test('commit({ prefix }) while everything is in memory: the prefix goes after the head, in the same single file', async (t) => {
  const { dir, file, created } = await durable(t, { nextName: names(), head: () => Buffer.from('HEAD\n') });
  await file.write(Buffer.from('Subject: x\n\nbody\n'));
  const committed = await file.commit({ prefix: Buffer.from('Authentication-Results: mx; none\n') });
  assert.equal(await readFile(join(dir, 'n1'), 'utf8'), 'HEAD\nAuthentication-Results: mx; none\nSubject: x\n\nbody\n');
  assert.equal(committed.size, Buffer.byteLength('Authentication-Results: mx; none\nSubject: x\n\nbody\n'));
  assert.equal(created.length, 1, 'no second tmp file');
  assert.equal(file.inMemory()?.toString(), 'Authentication-Results: mx; none\nSubject: x\n\nbody\n');
});

/** createFile whose files count the write calls they get (the bytes still go to the real file). */
function countingWrites(): { writes: number[]; createFile: (path: string) => Promise<QuickFile> } {
  const writes: number[] = [];
  return {
    writes,
    createFile: async (path) => {
      const real = await createQuickFile(path);
      return { ...real, write: (buffer, offset, length) => (writes.push(length), real.write(buffer, offset, length)) };
    },
  };
}

test('the buffer grows with the file (it starts small): up to its size a file is one write, beyond in steps of that size', async (t) => {
  const dir = await tempDir(t);
  const small = countingWrites();
  const fits = new DurableFile({ dir, nextName: names('fits') }, { syncDir: fsyncDirectory, createFile: small.createFile, bufferSize: 64 * 1024 });
  const lines = Array.from({ length: 600 }, (_, i) => Buffer.from(`${String(i).padStart(99, '.')}\n`)); // 60,000 octets
  for (const line of lines) await fits.write(line);
  await fits.commit({ prefix: Buffer.from('Prefix: 1\n') });
  assert.deepEqual(small.writes, [60_000 + 'Prefix: 1\n'.length], 'one write, the prefix in front');
  assert.deepEqual(await readFile(join(dir, 'fits')), Buffer.concat([Buffer.from('Prefix: 1\n'), ...lines]));

  const large = countingWrites();
  const spills = new DurableFile({ dir, nextName: names('spills') }, { syncDir: fsyncDirectory, createFile: large.createFile, bufferSize: 64 * 1024 });
  const text = Buffer.alloc(200 * 1024, 'x');
  for (let i = 0; i < text.length; i += 1000) await spills.write(text.subarray(i, i + 1000));
  await spills.commit();
  assert.ok(large.writes.length <= 4, `${large.writes.length} writes: ${large.writes.join(', ')}`);
  assert.ok(large.writes.slice(1, -1).every((n) => n >= 64 * 1000), 'the steps after the first are of the buffer\'s whole size');
  assert.deepEqual(await readFile(join(dir, 'spills')), text);
});

test('commit({ prefix }) after the file spilled to disk: a second tmp file, streamed, and only the final file remains', async (t) => {
  const { dir, file, created } = await durable(t, { nextName: names(), head: () => Buffer.from('HEAD\n') }, { bufferSize: 64 });
  const lines = Array.from({ length: 5000 }, (_, i) => Buffer.from(`line ${i}\n`));
  for (const line of lines) await file.write(line);
  await file.commit({ prefix: Buffer.from('Prefix: 1\n') });
  assert.deepEqual(await readFile(join(dir, 'n1')), Buffer.concat([Buffer.from('HEAD\nPrefix: 1\n'), ...lines]));
  assert.equal(created.length, 2);
  assert.deepEqual(await readdir(dir), ['n1']);
  assert.equal(file.inMemory(), null, 'it left the buffer');
});

test('an I/O error is kept until commit: writes resolve, commit rejects, the tmp file is removed', async (t) => {
  const dir = await tempDir(t);
  const enospc = Object.assign(new Error('ENOSPC: no space left'), { code: 'ENOSPC' });
  const createFile = async (path: string): Promise<QuickFile> => {
    const real = await createQuickFile(path);
    return { ...real, write: () => Promise.reject(enospc), datasync: () => real.datasync(), close: () => real.close() };
  };
  const file = new DurableFile({ dir, nextName: names() }, { syncDir: fsyncDirectory, createFile, bufferSize: 4 });
  await file.write(Buffer.from('more than four bytes'));
  await file.write(Buffer.from('and more'));
  await assert.rejects(file.commit(), { code: 'ENOSPC' });
  assert.deepEqual(await readdir(dir), []);
});

test('a tmp file that cannot be created is reported by commit', async (t) => {
  const dir = join(await tempDir(t), 'missing');
  const file = new DurableFile({ dir, nextName: names() }, { syncDir: fsyncDirectory });
  await file.write(Buffer.from('x'));
  await assert.rejects(file.commit(), { code: 'ENOENT' });
});

test('a Maildir-style tmp folder: the tmp file has the final name there; a stale one means the next name', async (t) => {
  const root = await tempDir(t);
  await Promise.all(['tmp', 'new'].map((d) => mkdir(join(root, d))));
  await writeFile(join(root, 'tmp', 'm1'), 'stale');
  const file = new DurableFile({ dir: join(root, 'new'), tmpDir: join(root, 'tmp'), nextName: names('m1', 'm2') }, { syncDir: fsyncDirectory });
  await file.write(Buffer.from('mail\n'));
  assert.equal((await file.commit()).name, 'm2');
  assert.deepEqual(await readdir(join(root, 'tmp')), ['m1'], 'only the stale file');
  assert.deepEqual(await readdir(join(root, 'new')), ['m2']);
});

test('abort removes the tmp file, any number of times; commit after abort fails', async (t) => {
  const { dir, file } = await durable(t, { nextName: names() }, { bufferSize: 4 });
  await file.write(Buffer.from('spilled to the tmp file'));
  await Promise.all([file.abort(), file.abort()]);
  assert.deepEqual(await readdir(dir), []);
  await assert.rejects(file.commit(), /already closed/);
});

test('replaceFileDurably replaces (the one use of rename over a file), with the mode asked for', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'state.json');
  await replaceFileDurably(path, '{"v":1}\n');
  await replaceFileDurably(path, '{"v":2}\n', { mode: 0o644 });
  assert.equal(await readFile(path, 'utf8'), '{"v":2}\n');
  assert.deepEqual(await readdir(dir), ['state.json']);
  assert.equal((await stat(path)).mode & 0o777, 0o644 & ~process.umask());
});
