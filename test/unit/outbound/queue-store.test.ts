// QueueStore: the <id>.msg file (+ <id>.json after an attempt), atomic commits, the cleanup of interrupted writes at
// startup, queues written by facteur 0.1 (<id>.json + <id>.eml), and the bodies kept in memory for a first attempt.
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseEnvelope } from '../../../src/outbound/queue-file.js';
import { encodeState, parseState } from '../../../src/outbound/queue-file.js';
import { newRecipient, type QueueItem } from '../../../src/outbound/queue-item.js';
import { QueueStore } from '../../../src/outbound/queue-store.js';
import { addr, collectBody, ManualTime, openStore, readMsgFile, SAMPLE_BODY, storeItem, T0 } from '../../helpers/queue-fixtures.js';
import { tempDir } from '../../helpers/temp-dir.js';

const sorted = async (dir: string): Promise<string[]> => (await readdir(dir)).sort();

test('an item is one <id>.msg: its envelope line, then the message byte for byte; it is loaded back unchanged', async (t) => {
  const dir = await tempDir(t);
  const time = new ManualTime();
  const { store, items } = await openStore(dir, time);
  assert.deepEqual(items, []);
  const item = await storeItem(store, { to: ['bob@dest.test', 'carol@Other.Test'] });
  assert.deepEqual(await sorted(dir), [`${item.id}.msg`], 'no <id>.json before any attempt');

  const { line, body } = await readMsgFile(dir, item.id);
  assert.ok(body.equals(Buffer.from(SAMPLE_BODY)), 'the rest of the file is the message');
  const json = JSON.parse(line) as Record<string, unknown> & { recipients: Record<string, unknown>[] };
  assert.equal(json.v, 1);
  assert.equal(json.id, item.id);
  assert.equal(json.from, 'alice@origin.test');
  assert.equal(json.created, new Date(T0).toISOString());
  assert.equal(json.recipients[1]?.domain, 'other.test', 'domains are lower-cased for grouping');
  assert.equal(json.recipients[1]?.address, 'carol@Other.Test', 'the address keeps its spelling');
  assert.ok(!line.includes('\n') && !line.includes('status'), 'one compact line, without per-recipient state');
  assert.deepEqual(parseEnvelope(line, body.length), item, 'every recipient pending, the size is the message\'s');

  const reopened = await openStore(dir, time);
  assert.deepEqual(reopened.items, [item]);
  assert.deepEqual(await sorted(dir), [`${item.id}.msg`], 'opening changes nothing');
});

test('control characters and non-ASCII in the envelope stay on the one line', async (t) => {
  const dir = await tempDir(t);
  const time = new ManualTime();
  const { store } = await openStore(dir, time);
  const item = await storeItem(store, { from: 'al\nice@origin.test', to: ['jos\u00e9\u2028x@d\u00e9st.test'] });
  const { line, body } = await readMsgFile(dir, item.id);
  assert.ok(body.equals(Buffer.from(SAMPLE_BODY)));
  assert.deepEqual((await openStore(dir, time)).items, [item]);
  assert.deepEqual(parseEnvelope(line, body.length), item);
});

test('a message is streamed through a tmp file and only becomes <id>.msg at finish()', async (t) => {
  const dir = await tempDir(t);
  const { store } = await openStore(dir, new ManualTime());
  const id = store.newId();
  const item: QueueItem = { id, from: '', reversePath: null, created: new Date(T0).toISOString(), size: 0, eightBit: false, smtputf8: false, recipients: [newRecipient('bob@dest.test', addr('bob@dest.test'))] };
  const writer = await store.createMessage(item);
  await writer.write(Buffer.from('a'.repeat(100_000)));
  await writer.write(Buffer.from('b\n'));
  const during = await readdir(dir);
  assert.equal(during.length, 1);
  assert.match(during[0] ?? '', new RegExp(`^${id}\\.msg\\..*\\.tmp$`));
  assert.deepEqual(await writer.finish(), { id, size: 100_002 }, 'the size is the message\'s, without the envelope line');
  assert.deepEqual(await readdir(dir), [`${id}.msg`]);
  assert.equal((await readMsgFile(dir, id)).body.toString(), `${'a'.repeat(100_000)}b\n`);
  assert.deepEqual((await openStore(dir, new ManualTime())).items, [{ ...item, size: 100_002 }]);
  await writer.discard();
  await writer.discard();
  assert.deepEqual(await readdir(dir), [], 'discard after finish removes the message; twice is harmless');
});

test('discard() before finish() leaves nothing, whether the message was small (still buffered) or not', async (t) => {
  const dir = await tempDir(t);
  const { store } = await openStore(dir, new ManualTime());
  for (const size of [10, 200_000]) {
    const id = store.newId();
    const writer = await store.createMessage({ id, from: '', reversePath: null, created: new Date(T0).toISOString(), size: 0, eightBit: false, smtputf8: false, recipients: [newRecipient('bob@dest.test', addr('bob@dest.test'))] });
    await writer.write(Buffer.alloc(size, 'x'));
    await writer.discard();
    assert.deepEqual(await readdir(dir), [], `${size} bytes`);
    await assert.rejects(writer.write(Buffer.from('y')), /already closed/);
  }
});

test('at open: tmp files and lone .eml or .json are removed, unreadable files moved aside, the rest loaded', async (t) => {
  const dir = await tempDir(t);
  const time = new ManualTime();
  const { store } = await openStore(dir, time);
  const good = await storeItem(store, { to: ['bob@dest.test'] });
  const saved = await storeItem(store, { to: ['dave@dest.test'] });
  const savedState: QueueItem = { ...saved, recipients: saved.recipients.map((r) => ({ ...r, status: 'deferred', attempts: 2, nextAttempt: new Date(T0 + 60_000).toISOString(), lastError: '451 later' })) };
  await store.save(savedState);
  const goodMsg = await readFile(join(dir, `${good.id}.msg`));

  // Leftovers of interrupted writes, never acknowledged: removed.
  await writeFile(join(dir, `x1.msg.0a1b2c3d4e5f.tmp`), 'half a message');
  await writeFile(join(dir, `${good.id}.json.ffee00112233.tmp`), '{"half": ');
  await writeFile(join(dir, 'x2.eml.0a1b2c3d4e5f.tmp'), 'half a 0.1 body');
  await writeFile(join(dir, 'orphan1.eml'), 'never acknowledged\n');
  // A removal interrupted between the .msg and the .json: the item is gone, its state file too.
  await writeFile(join(dir, 'nobody1.json'), encodeState({ ...savedState, id: 'nobody1' }));
  // Unreadable messages: set aside, never deleted.
  await writeFile(join(dir, 'notjson1.msg'), 'Subject: no envelope line\n\nbody\n');
  await writeFile(join(dir, 'nolf1.msg'), '{"v":1,"id":"nolf1"');
  await writeFile(join(dir, 'empty1.msg'), '');
  await writeFile(join(dir, 'shape1.msg'), `${JSON.stringify({ v: 2, id: 'shape1' })}\nbody\n`);
  await writeFile(join(dir, 'copy1.msg'), goodMsg); // its envelope names another id
  // 0.1 items with an unreadable state file: the .json is set aside, the body stays.
  await writeFile(join(dir, 'broken1.json'), '{ not json');
  await writeFile(join(dir, 'broken1.eml'), 'body\n');
  await writeFile(join(dir, 'wrongshape.json'), JSON.stringify({ id: 'wrongshape', recipients: 'nope' }));
  await writeFile(join(dir, 'wrongshape.eml'), 'body\n');
  // Anything else is left alone.
  await writeFile(join(dir, 'README.txt'), 'an operator note');

  const { items } = await openStore(dir, time);
  assert.deepEqual(items, [good, savedState], 'the .json wins over the envelope line');
  assert.deepEqual(await sorted(dir), [
    'README.txt',
    'broken1.eml.corrupt',
    'broken1.json.corrupt',
    'copy1.msg.corrupt',
    'empty1.msg.corrupt',
    `${good.id}.msg`,
    'nolf1.msg.corrupt',
    'notjson1.msg.corrupt',
    `${saved.id}.json`,
    `${saved.id}.msg`,
    'shape1.msg.corrupt',
    'wrongshape.eml.corrupt',
    'wrongshape.json.corrupt',
  ].sort());
  assert.equal(await readFile(join(dir, 'notjson1.msg.corrupt'), 'utf8'), 'Subject: no envelope line\n\nbody\n', 'set aside unchanged');
});

test('a corrupt <id>.json beside a good <id>.msg is set aside and the item is loaded from its envelope line', async (t) => {
  const dir = await tempDir(t);
  const time = new ManualTime();
  const { store } = await openStore(dir, time);
  const item = await storeItem(store, { to: ['bob@dest.test', 'carol@dest.test'] });
  await store.save({ ...item, recipients: item.recipients.map((r) => ({ ...r, status: 'sent', attempts: 1 })) });
  await writeFile(join(dir, `${item.id}.json`), '{"id": "truncat');

  const reopened = await openStore(dir, time);
  assert.deepEqual(reopened.items, [item], 'every recipient pending again (a duplicate rather than a loss)');
  assert.ok(reopened.items[0]?.recipients.every((r) => r.status === 'pending' && r.attempts === 0));
  assert.deepEqual(await sorted(dir), [`${item.id}.json.corrupt`, `${item.id}.msg`]);
  assert.equal(await readFile(join(dir, `${item.id}.json.corrupt`), 'utf8'), '{"id": "truncat');
  assert.equal((await collectBody(reopened.store.openBody(item.id))).toString(), SAMPLE_BODY);

  // The set-aside file is the operator's: the item's removal leaves it.
  assert.equal(await reopened.store.remove(item.id), true);
  assert.deepEqual(await sorted(dir), [`${item.id}.json.corrupt`]);
});

test('a corrupt .msg beside a corrupt .json: both are set aside', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'both1.msg'), 'no envelope');
  await writeFile(join(dir, 'both1.json'), 'no state');
  const { items } = await openStore(dir, new ManualTime());
  assert.deepEqual(items, []);
  assert.deepEqual(await sorted(dir), ['both1.json.corrupt', 'both1.msg.corrupt']);
});

test('a queue written by facteur 0.1 (<id>.json + <id>.eml) is loaded, its body read from the .eml, and removed', async (t) => {
  const dir = await tempDir(t);
  const time = new ManualTime();
  const legacyBody = `${SAMPLE_BODY}${'older line\n'.repeat(10_000)}`; // > 64 KiB: read in several chunks
  const item: QueueItem = {
    id: '0legacy0001',
    from: 'alice@origin.test',
    reversePath: addr('alice@origin.test'),
    created: new Date(T0 - 60_000).toISOString(),
    size: Buffer.byteLength(legacyBody),
    eightBit: false,
    smtputf8: false,
    recipients: [{ ...newRecipient('bob@dest.test', addr('bob@dest.test')), status: 'deferred', attempts: 1, nextAttempt: new Date(T0).toISOString(), lastError: '451 later' }],
  };
  await writeFile(join(dir, `${item.id}.json`), encodeState(item));
  await writeFile(join(dir, `${item.id}.eml`), legacyBody);

  const { store, items } = await openStore(dir, time);
  assert.deepEqual(items, [item]);
  assert.deepEqual(await sorted(dir), [`${item.id}.eml`, `${item.id}.json`], 'left as it is');
  assert.equal((await collectBody(store.openBody(item.id))).toString(), legacyBody, 'the whole .eml, from its first byte');
  assert.equal((await store.readHeaders(item.id, 64 * 1024)).toString(), SAMPLE_BODY.slice(0, SAMPLE_BODY.indexOf('\n\n') + 1));

  const later: QueueItem = { ...item, recipients: item.recipients.map((r) => ({ ...r, attempts: 2 })) };
  await store.save(later);
  assert.deepEqual(parseState(await readFile(join(dir, `${item.id}.json`), 'utf8')), later);
  assert.deepEqual((await openStore(dir, time)).items, [later]);

  assert.equal(await store.remove(item.id), true);
  assert.deepEqual(await readdir(dir), [], 'both files removed');
  assert.equal(await store.remove(item.id), false);
});

test('save() replaces the state atomically: no tmp file remains and the file always parses', async (t) => {
  const dir = await tempDir(t);
  const { store } = await openStore(dir, new ManualTime());
  const item = await storeItem(store, { to: ['bob@dest.test'] });
  const writes = [];
  for (let i = 1; i <= 20; i++) writes.push(store.save({ ...item, recipients: item.recipients.map((r) => ({ ...r, attempts: i })) }));
  await Promise.all(writes);
  assert.deepEqual(await sorted(dir), [`${item.id}.json`, `${item.id}.msg`]);
  const saved = parseState(await readFile(join(dir, `${item.id}.json`), 'utf8'));
  assert.ok(saved.recipients[0] !== undefined && saved.recipients[0].attempts >= 1);
  assert.equal((await readMsgFile(dir, item.id)).body.toString(), SAMPLE_BODY, 'the message file is not rewritten');
});

test('remove() deletes every file of the item and says whether the item existed', async (t) => {
  const dir = await tempDir(t);
  const time = new ManualTime();
  const { store } = await openStore(dir, time);
  const plain = await storeItem(store, { to: ['bob@dest.test'] });
  const withState = await storeItem(store, { to: ['carol@dest.test'] });
  await store.save({ ...withState, recipients: withState.recipients.map((r) => ({ ...r, attempts: 1 })) });
  const reloaded = await storeItem(store, { to: ['dave@dest.test'] });
  await store.save({ ...reloaded, recipients: reloaded.recipients.map((r) => ({ ...r, attempts: 1 })) });
  const other = (await openStore(dir, time)).store; // knows of reloaded's .json from the directory only

  assert.equal(await store.remove(plain.id), true);
  assert.equal(await store.remove(withState.id), true);
  assert.equal(await other.remove(reloaded.id), true);
  assert.deepEqual(await readdir(dir), []);
  assert.equal(await store.remove(plain.id), false);
  assert.equal(await store.remove(withState.id), false);
  assert.throws(() => store.jsonPath('../etc/passwd'), /invalid queue id/);
  assert.throws(() => store.msgPath('a/b'), /invalid queue id/);
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

test('readHeaders() returns the header section only, capped at whole lines, from memory or from the file', async (t) => {
  const dir = await tempDir(t);
  const { store } = await openStore(dir, new ManualTime());
  const item = await storeItem(store, { to: ['bob@dest.test'] });
  const expected = SAMPLE_BODY.slice(0, SAMPLE_BODY.indexOf('\n\n') + 1);
  assert.equal((await store.readHeaders(item.id, 64 * 1024)).toString(), expected);
  await store.save(item); // its first attempt is over: the copy in memory goes
  assert.equal((await store.readHeaders(item.id, 64 * 1024)).toString(), expected, 'the file, after its envelope line');

  const long = `${'X-Long: '.padEnd(200, 'y')}\n`.repeat(1000) + '\nbody\n';
  const big = await storeItem(store, { to: ['bob@dest.test'], body: long });
  const capped = (await store.readHeaders(big.id, 4096)).toString();
  assert.ok(capped.length <= 4096 && capped.endsWith('\n'));
  assert.equal(capped.length % 201, 0, 'whole lines only');
  assert.ok(capped.startsWith('X-Long: y'), 'not the envelope line');
});

test('openBody(): a small message is kept from its arrival until the item first changes (save), then read from its file', async (t) => {
  const dir = await tempDir(t);
  const { store } = await openStore(dir, new ManualTime());
  const item = await storeItem(store, { to: ['bob@dest.test'] });
  const kept = store.openBody(item.id);
  assert.ok(Array.isArray(kept) && kept.length === 1 && Buffer.isBuffer(kept[0]), 'one Buffer, no file read');
  assert.equal((await collectBody(kept)).toString(), SAMPLE_BODY);
  assert.equal((await collectBody(store.openBody(item.id))).toString(), SAMPLE_BODY, 'again: the same copy');

  await store.save(item);
  await store.save(item); // twice is harmless
  const fromFile = store.openBody(item.id);
  assert.ok(!Array.isArray(fromFile) && Symbol.asyncIterator in fromFile, 'read from the file');
  assert.equal((await collectBody(fromFile)).toString(), SAMPLE_BODY);
  assert.equal((await collectBody(fromFile)).toString(), SAMPLE_BODY, 'iterating it again reads it again');

  // A store opened later (a restart) has nothing in memory.
  const reopened = (await openStore(dir, new ManualTime())).store;
  assert.ok(!Array.isArray(reopened.openBody(item.id)));
  assert.equal((await collectBody(reopened.openBody(item.id))).toString(), SAMPLE_BODY);
});

test('openBody(): a message bigger than the writer\'s buffer is not kept and streams back exactly, without the envelope', async (t) => {
  const dir = await tempDir(t);
  const { store } = await openStore(dir, new ManualTime());
  // Every byte value, lines of varied length, no final LF: any slip at a chunk boundary shows.
  const parts: Buffer[] = [Buffer.from(SAMPLE_BODY)];
  for (let i = 0, total = 0; total < 300_000; i++) {
    const line = Buffer.from(Array.from({ length: (i % 97) + 1 }, (_, k) => (k * 7 + i) % 256));
    line[line.length - 1] = 0x0a;
    parts.push(line);
    total += line.length;
  }
  parts.push(Buffer.from('no final newline'));
  const message = Buffer.concat(parts);
  const item = await storeItem(store, { to: ['bob@dest.test'], body: message });
  assert.equal(item.size, message.length);
  const body = store.openBody(item.id);
  assert.ok(!Array.isArray(body), 'too big to be kept');
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk);
  assert.ok(chunks.length > 1, 'streamed in several chunks');
  assert.ok(Buffer.concat(chunks).equals(message), 'byte for byte');
  assert.ok((await readMsgFile(dir, item.id)).body.equals(message));
  assert.deepEqual((await openStore(dir, new ManualTime())).items, [item]);
});

test('openBody(): a message that fits but whose envelope line fills the buffer is read from the file', async (t) => {
  const dir = await tempDir(t);
  const { store } = await openStore(dir, new ManualTime());
  const to = Array.from({ length: 1200 }, (_, i) => `recipient-number-${i}@some-rather-long-domain-name.example`);
  const item = await storeItem(store, { to });
  const { line } = await readMsgFile(dir, item.id);
  assert.ok(Buffer.byteLength(line) > 64 * 1024, `envelope line of ${Buffer.byteLength(line)} bytes`);
  assert.ok(!Array.isArray(store.openBody(item.id)), 'not kept: the buffer was written out before the message ended');
  assert.equal((await collectBody(store.openBody(item.id))).toString(), SAMPLE_BODY);
  assert.deepEqual((await openStore(dir, new ManualTime())).items, [item], 'a long envelope line is read back whole');
});

test('bodyCacheBytes: 0 keeps nothing; a budget keeps messages while they fit and frees what a save or a removal drops', async (t) => {
  const none = (await openStore(await tempDir(t), new ManualTime(), { bodyCacheBytes: 0 })).store;
  const item = await storeItem(none, { to: ['bob@dest.test'] });
  assert.ok(!Array.isArray(none.openBody(item.id)));
  assert.equal((await collectBody(none.openBody(item.id))).toString(), SAMPLE_BODY);

  const size = Buffer.byteLength(SAMPLE_BODY);
  const store = (await openStore(await tempDir(t), new ManualTime(), { bodyCacheBytes: 2 * size })).store;
  const [a, b, c] = [await storeItem(store, { to: ['a@dest.test'] }), await storeItem(store, { to: ['b@dest.test'] }), await storeItem(store, { to: ['c@dest.test'] })];
  const isKept = (id: string): boolean => Array.isArray(store.openBody(id));
  assert.deepEqual([isKept(a.id), isKept(b.id), isKept(c.id)], [true, true, false], 'the third is over the budget');
  await store.save(a); // the first change after the first attempt drops the copy
  await store.remove(b.id); // removal drops the copy too
  const [d, e, f] = [await storeItem(store, { to: ['d@dest.test'] }), await storeItem(store, { to: ['e@dest.test'] }), await storeItem(store, { to: ['f@dest.test'] })];
  assert.deepEqual([isKept(d.id), isKept(e.id), isKept(f.id)], [true, true, false], 'room was made for two');
  for (const x of [a, c, d, e, f]) assert.equal((await collectBody(store.openBody(x.id))).toString(), SAMPLE_BODY);
});

test('QueueStore.inspect() lists committed items without touching anything, and reports unreadable ones', async (t) => {
  const dir = await tempDir(t);
  const { store } = await openStore(dir, new ManualTime());
  const item = await storeItem(store, { to: ['bob@dest.test'] });
  const tried = await storeItem(store, { to: ['carol@dest.test'], body: 'Subject: other\n\nbody\n' });
  const triedState: QueueItem = { ...tried, recipients: tried.recipients.map((r) => ({ ...r, status: 'deferred', attempts: 1, lastError: '451 later' })) };
  await store.save(triedState);
  const legacy: QueueItem = { ...item, id: '0legacy0002', size: 5 };
  await writeFile(join(dir, `${legacy.id}.json`), encodeState(legacy));
  await writeFile(join(dir, `${legacy.id}.eml`), 'body\n');
  await writeFile(join(dir, 'bad1.msg'), 'nope');
  await writeFile(join(dir, 'bad2.json'), 'nope');
  await writeFile(join(dir, 'bad2.eml'), 'body\n');
  await writeFile(join(dir, 'gone1.json'), encodeState({ ...item, id: 'gone1' }));
  await writeFile(join(dir, 'orphan1.eml'), 'x');
  await writeFile(join(dir, 'left.msg.12.tmp'), 'x');
  const badState = await storeItem(store, { to: ['dave@dest.test'] });
  await writeFile(join(dir, `${badState.id}.json`), '{"truncated');
  const before = await sorted(dir);

  const { items, problems } = QueueStore.inspect(dir);
  assert.deepEqual(items, [legacy, item, triedState, badState].sort((x, y) => (x.id < y.id ? -1 : 1)));
  assert.equal(items.find((i) => i.id === item.id)?.size, Buffer.byteLength(SAMPLE_BODY), 'the size is the message\'s, without the envelope line');
  const reported = [...problems].sort();
  assert.equal(reported.length, 3, problems.join('\n'));
  assert.match(reported[0] ?? '', new RegExp(`^${badState.id}\\.json: .*listed as it arrived`), 'a state file that cannot be read is said, the item listed from its envelope');
  assert.match(reported[1] ?? '', /^bad1\.msg: /);
  assert.match(reported[2] ?? '', /^bad2\.json, bad2\.eml: /);
  assert.deepEqual(await sorted(dir), before, 'nothing removed, nothing set aside');
  assert.deepEqual(QueueStore.inspect(join(dir, 'missing')), { items: [], problems: [] });
});

test('a commit never overwrites a queued message: an id already on disk gives the new message another id', async (t) => {
  const dir = await tempDir(t);
  const time = new ManualTime();
  const { store } = await openStore(dir, time);
  const first = await storeItem(store, { to: ['bob@dest.test'] });
  const before = await readFile(join(dir, `${first.id}.msg`));
  // A writer whose first name is one already taken (a clock set back past an id still queued).
  const writer = await store.createMessage({ ...first, recipients: [newRecipient('carol@dest.test', addr('carol@dest.test'))] });
  await writer.write(Buffer.from('Subject: second\n\nanother message\n'));
  const { id } = await writer.finish();
  assert.notEqual(id, first.id);
  assert.deepEqual(await readFile(join(dir, `${first.id}.msg`)), before, 'the first message is intact');
  const second = await readMsgFile(dir, id);
  assert.equal(second.body.toString(), 'Subject: second\n\nanother message\n');
  assert.equal((JSON.parse(second.line) as { id: string }).id, id, 'the envelope line names the new id');
  assert.deepEqual(await sorted(dir), [`${first.id}.msg`, `${id}.msg`].sort());
  const { items } = await openStore(dir, time);
  assert.deepEqual(items.map((i) => [i.id, i.recipients[0]?.address]).sort(), [[first.id, 'bob@dest.test'], [id, 'carol@dest.test']].sort());
});
