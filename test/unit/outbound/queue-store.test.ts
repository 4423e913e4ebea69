// QueueStore: the .eml + .json pair, atomic commits, and the cleanup of interrupted writes at startup.
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseQueueItem } from '../../../src/outbound/queue-item.js';
import { readQueueDir } from '../../../src/outbound/queue-store.js';
import { ManualTime, openStore, SAMPLE_BODY, storeItem, tempDir } from './queue-fixtures.js';

test('an item written through a body writer and save() is loaded back unchanged', async (t) => {
  const dir = await tempDir(t);
  const time = new ManualTime();
  const { store, items } = await openStore(dir, time);
  assert.deepEqual(items, []);
  const item = await storeItem(store, { to: ['bob@dest.test', 'carol@Other.Test'] });
  assert.deepEqual((await readdir(dir)).sort(), [`${item.id}.eml`, `${item.id}.json`]);
  assert.equal(await readFile(join(dir, `${item.id}.eml`), 'utf8'), SAMPLE_BODY);
  const json = JSON.parse(await readFile(join(dir, `${item.id}.json`), 'utf8'));
  assert.equal(json.from, 'alice@origin.test');
  assert.equal(json.recipients[1].domain, 'other.test', 'domains are lower-cased for grouping');
  assert.equal(json.recipients[1].address, 'carol@Other.Test', 'the address keeps its spelling');

  const reopened = await openStore(dir, time);
  assert.deepEqual(reopened.items, [item]);
});

test('a body is streamed through a tmp file and only becomes <id>.eml at finish()', async (t) => {
  const dir = await tempDir(t);
  const { store } = await openStore(dir, new ManualTime());
  const id = store.newId();
  const body = await store.createBody(id);
  await body.write(Buffer.from('a'.repeat(100_000)));
  await body.write(Buffer.from('b\n'));
  const during = await readdir(dir);
  assert.equal(during.length, 1);
  assert.match(during[0] ?? '', new RegExp(`^${id}\\.eml\\..*\\.tmp$`));
  assert.equal(await body.finish(), 100_002);
  assert.deepEqual(await readdir(dir), [`${id}.eml`]);
  await body.discard();
  await body.discard();
  assert.deepEqual(await readdir(dir), [], 'discard after finish removes the body; twice is harmless');
});

test('at open: tmp files and bodies without envelope are removed, unreadable envelopes moved aside', async (t) => {
  const dir = await tempDir(t);
  const time = new ManualTime();
  const { store } = await openStore(dir, time);
  const good = await storeItem(store, { to: ['bob@dest.test'] });
  await writeFile(join(dir, 'orphan1.eml'), 'never acknowledged\n');
  await writeFile(join(dir, 'x1.eml.0a1b2c.tmp'), 'half a body');
  await writeFile(join(dir, `${good.id}.json.ffee.tmp`), '{"half": ');
  await writeFile(join(dir, 'broken1.json'), '{ not json');
  await writeFile(join(dir, 'broken1.eml'), 'body\n');
  await writeFile(join(dir, 'wrongshape.json'), JSON.stringify({ id: 'wrongshape', recipients: 'nope' }));
  await writebody(dir, 'wrongshape');
  await writeFile(join(dir, 'nobody1.json'), await readFile(join(dir, `${good.id}.json`), 'utf8').then((s) => s.replaceAll(good.id, 'nobody1')));

  const { items } = await openStore(dir, time);
  assert.deepEqual(items.map((i) => i.id), [good.id]);
  assert.deepEqual((await readdir(dir)).sort(), [
    'broken1.eml',
    'broken1.json.corrupt',
    `${good.id}.eml`,
    `${good.id}.json`,
    'nobody1.json.corrupt',
    'wrongshape.eml',
    'wrongshape.json.corrupt',
  ].sort());
});

async function writebody(dir: string, id: string): Promise<void> {
  await writeFile(join(dir, `${id}.eml`), 'body\n');
}

test('save() replaces the envelope atomically: no tmp file remains and the file always parses', async (t) => {
  const dir = await tempDir(t);
  const { store } = await openStore(dir, new ManualTime());
  const item = await storeItem(store, { to: ['bob@dest.test'] });
  const writes = [];
  for (let i = 1; i <= 20; i++) writes.push(store.save({ ...item, recipients: item.recipients.map((r) => ({ ...r, attempts: i })) }));
  await Promise.all(writes);
  assert.deepEqual((await readdir(dir)).sort(), [`${item.id}.eml`, `${item.id}.json`]);
  const saved = parseQueueItem(await readFile(join(dir, `${item.id}.json`), 'utf8'));
  assert.ok(saved.recipients[0] !== undefined && saved.recipients[0].attempts >= 1);
});

test('remove() deletes both files and says whether the item existed', async (t) => {
  const dir = await tempDir(t);
  const { store } = await openStore(dir, new ManualTime());
  const item = await storeItem(store, { to: ['bob@dest.test'] });
  assert.equal(await store.remove(item.id), true);
  assert.deepEqual(await readdir(dir), []);
  assert.equal(await store.remove(item.id), false);
  assert.throws(() => store.jsonPath('../etc/passwd'), /invalid queue id/);
});

test('ids are [A-Za-z0-9], unique and ordered by time', async (t) => {
  const dir = await tempDir(t);
  const time = new ManualTime();
  const { store } = await openStore(dir, time);
  const ids: string[] = [];
  for (let i = 0; i < 500; i++) {
    if (i % 100 === 0) time.now += 1;
    ids.push(store.newId());
  }
  for (const id of ids) assert.match(id, /^[A-Za-z0-9]+$/);
  assert.equal(new Set(ids).size, ids.length);
  assert.deepEqual([...ids].sort(), ids, 'sorted by creation');
});

test('readHeaders() returns the header section only, capped at whole lines', async (t) => {
  const dir = await tempDir(t);
  const { store } = await openStore(dir, new ManualTime());
  const item = await storeItem(store, { to: ['bob@dest.test'] });
  const headers = (await store.readHeaders(item.id, 64 * 1024)).toString();
  assert.equal(headers, SAMPLE_BODY.slice(0, SAMPLE_BODY.indexOf('\n\n') + 1));

  const long = `${'X-Long: '.padEnd(200, 'y')}\n`.repeat(1000) + '\nbody\n';
  const big = await storeItem(store, { to: ['bob@dest.test'], body: long });
  const capped = (await store.readHeaders(big.id, 4096)).toString();
  assert.ok(capped.length <= 4096 && capped.endsWith('\n'));
  assert.equal(capped.length % 201, 0, 'whole lines only');
});

test('readQueueDir() lists committed items without touching anything', async (t) => {
  const dir = await tempDir(t);
  const { store } = await openStore(dir, new ManualTime());
  const item = await storeItem(store, { to: ['bob@dest.test'] });
  await writeFile(join(dir, 'bad1.json'), 'nope');
  await writeFile(join(dir, 'left.eml.12.tmp'), 'x');
  const before = (await readdir(dir)).sort();
  const { items, problems } = await readQueueDir(dir);
  assert.deepEqual(items, [item]);
  assert.equal(problems.length, 1);
  assert.match(problems[0] ?? '', /^bad1\.json: /);
  assert.deepEqual((await readdir(dir)).sort(), before);
  assert.deepEqual(await readQueueDir(join(dir, 'missing')), { items: [], problems: [] });
});
