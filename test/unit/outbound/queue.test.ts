// Queue: retries with backoff, per-domain attempts, limits, lifetime and bounces, flush and delete (fake courier, manual clock).
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { pino } from 'pino';
import { silentLogger, type Logger } from '../../../src/observability/logger.js';
import { parseState } from '../../../src/outbound/queue-file.js';
import type { QueueItem } from '../../../src/outbound/queue-item.js';
import { QueueStore } from '../../../src/outbound/queue-store.js';
import { Queue } from '../../../src/outbound/queue.js';
import type { TransferRequest, TransferResult } from '../../../src/outbound/courier.js';
import { allWith, collectBody, deferred, FakeCourier, ManualTime, openStore, SAMPLE_BODY, storedMessage, storeItem, T0 } from '../../helpers/queue-fixtures.js';

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const CONFIG = { retryMin: MINUTE, retryMax: 60 * MINUTE, queueLifetime: 5 * DAY, concurrency: 10, concurrencyPerDomain: 2 };

async function setup(t: TestContext, opts: { transfer?: FakeCourier; config?: Partial<typeof CONFIG>; logger?: Logger } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'facteur-test-'));
  const time = new ManualTime();
  const { store } = await openStore(dir, time);
  const transfer = opts.transfer ?? new FakeCourier();
  const queue = new Queue({
    store,
    courier: transfer,
    logger: opts.logger ?? silentLogger(),
    hostname: 'relay.test',
    config: { ...CONFIG, ...opts.config },
    now: time.read,
    timers: time,
    random: () => 0.5, // no jitter: delays are exact
  });
  // The queue is closed before its folder goes: an attempt still in flight writes its state there until then (with
  // tempDir's own hook, registered first and so run first, the folder's removal raced that write: ENOTEMPTY).
  t.after(async () => {
    await queue.close(1000);
    await rm(dir, { recursive: true, force: true });
  });
  return { dir, time, store, transfer, queue };
}

const readItem = async (dir: string, id: string): Promise<QueueItem> => parseState(await readFile(join(dir, `${id}.json`), 'utf8'));
const onDisk = async (dir: string): Promise<QueueItem[]> => QueueStore.inspect(dir).items;

test('a transient failure defers the recipient with backoff; the retry at the due time succeeds and the item leaves', async (t) => {
  /** What each attempt read of the message: whether it came from memory (one Buffer), and its text. */
  const read: { kept: boolean; text: string }[] = [];
  const transfer = new FakeCourier(async (req, call) => {
    const body = req.openBody();
    read.push({ kept: Array.isArray(body), text: (await collectBody(body)).toString() });
    return allWith(req, call === 1 ? 'transient' : 'sent');
  });
  const { dir, time, store, queue } = await setup(t, { transfer });
  const item = await storeItem(store, { to: ['bob@dest.test'] });
  assert.deepEqual(await readdir(dir), [`${item.id}.msg`], 'before any attempt: the message file only');
  queue.add(item);
  queue.start();
  await queue.whenIdle();
  assert.deepEqual((await readdir(dir)).sort(), [`${item.id}.json`, `${item.id}.msg`], 'the attempt changed the state: <id>.json beside it');

  assert.equal(transfer.calls.length, 1);
  const first = transfer.calls[0] as TransferRequest;
  assert.equal(first.domain, 'dest.test');
  assert.deepEqual(first.recipients, [{ local: 'bob', domain: 'dest.test' }]);
  assert.deepEqual(first.reversePath, { local: 'alice', domain: 'origin.test' });
  assert.equal(first.size, item.size);

  const deferredState = (await readItem(dir, item.id)).recipients[0];
  assert.equal(deferredState?.status, 'deferred');
  assert.equal(deferredState?.attempts, 1);
  assert.equal(deferredState?.nextAttempt, new Date(T0 + MINUTE).toISOString());
  assert.equal(deferredState?.lastError, '451 4.7.1 Try again later');
  assert.deepEqual(queue.list()[0]?.recipients[0], {
    address: 'bob@dest.test',
    status: 'deferred',
    attempts: 1,
    next_attempt: new Date(T0 + MINUTE).toISOString(),
    last_error: '451 4.7.1 Try again later',
  });
  assert.equal(time.nextTimer(), T0 + MINUTE, 'one timer, for the next due time');

  time.advanceTo(T0 + MINUTE - 1);
  assert.equal(transfer.calls.length, 1, 'not before its time');
  time.advanceTo(T0 + MINUTE);
  await queue.whenIdle();
  assert.equal(transfer.calls.length, 2);
  assert.deepEqual(await readdir(dir), [], 'delivered: both files removed');
  assert.deepEqual(read, [
    { kept: true, text: SAMPLE_BODY },
    { kept: false, text: SAMPLE_BODY },
  ], 'the first attempt sends the copy kept from the arrival, the retry reads the same bytes from the file');
  assert.deepEqual(queue.list(), []);
  assert.equal(time.nextTimer(), null);
});

test('attempts count up and the delay doubles until retry_max', async (t) => {
  const transfer = new FakeCourier((req) => allWith(req, 'transient'));
  const { dir, time, store, queue } = await setup(t, { transfer });
  const item = await storeItem(store, { to: ['bob@dest.test'] });
  queue.add(item);
  queue.start();
  const expected = [1, 2, 4, 8, 16, 32, 60, 60];
  for (const [i, minutes] of expected.entries()) {
    await queue.whenIdle();
    const r = (await readItem(dir, item.id)).recipients[0];
    assert.equal(r?.attempts, i + 1);
    assert.equal(Date.parse(r?.nextAttempt ?? '') - time.now, minutes * MINUTE, `delay after attempt ${i + 1}`);
    time.advanceTo(Date.parse(r?.nextAttempt ?? ''));
  }
});

test('partial outcomes: the sent recipient is final, only the deferred one is retried and listed', async (t) => {
  const transfer = new FakeCourier((req, call): TransferResult => ({
    outcomes: req.recipients.map((recipient) => ({
      recipient,
      status: call === 1 && recipient.local === 'carol' ? 'transient' : 'sent',
      diagnostic: call === 1 && recipient.local === 'carol' ? '452 4.2.2 Mailbox full' : '250 ok',
      remoteMta: 'mx.dest.test',
    })),
    relay: { host: 'mx.dest.test', ip: '192.0.2.1', tls: null },
  }));
  const { dir, time, store, queue } = await setup(t, { transfer });
  const item = await storeItem(store, { to: ['bob@dest.test', 'carol@dest.test'] });
  queue.add(item);
  queue.start();
  await queue.whenIdle();
  const saved = await readItem(dir, item.id);
  assert.deepEqual(saved.recipients.map((r) => [r.address, r.status, r.attempts]), [
    ['bob@dest.test', 'sent', 1],
    ['carol@dest.test', 'deferred', 1],
  ]);
  assert.deepEqual(queue.list()[0]?.recipients.map((r) => r.address), ['carol@dest.test']);
  time.advanceTo(T0 + MINUTE);
  await queue.whenIdle();
  assert.deepEqual(transfer.calls[1]?.recipients.map((r) => r.local), ['carol'], 'the sent recipient is not sent again');
  assert.deepEqual(await readdir(dir), []);
});

test('recipients are grouped by domain: two domains, two transfers', async (t) => {
  const { store, queue, transfer } = await setup(t);
  queue.add(await storeItem(store, { to: ['a1@one.test', 'b1@two.test', 'a2@ONE.test'] }));
  queue.start();
  await queue.whenIdle();
  assert.equal(transfer.calls.length, 2);
  const byDomain = new Map(transfer.calls.map((c) => [c.domain, c.recipients.map((r) => r.local)]));
  assert.deepEqual(byDomain.get('one.test'), ['a1', 'a2']);
  assert.deepEqual(byDomain.get('two.test'), ['b1']);
});

test('at most `concurrency` transfers in flight, and `concurrencyPerDomain` towards one domain', async (t) => {
  const answers: { req: TransferRequest; done: (r: TransferResult) => void }[] = [];
  const transfer = new FakeCourier((req) => {
    const d = deferred<TransferResult>();
    answers.push({ req, done: d.resolve });
    return d.promise;
  });
  const { store, queue } = await setup(t, { transfer, config: { concurrency: 3, concurrencyPerDomain: 2 } });
  for (const to of ['a@same.test', 'b@same.test', 'c@same.test', 'd@x.test', 'e@y.test']) queue.add(await storeItem(store, { to: [to] }));
  queue.start();
  await transfer.waitForCall(3);
  const inFlight = (): string[] => answers.map((a) => a.req.recipients[0]?.local ?? '');
  assert.deepEqual(inFlight().sort(), ['a', 'b', 'd'], 'two to same.test (its limit), then the next domain');
  const first = answers[0] as (typeof answers)[number];
  first.done(allWith(first.req, 'sent'));
  await transfer.waitForCall(4);
  assert.equal(transfer.calls.length, 4, 'one slot freed, one transfer started');
  assert.equal(transfer.calls[3]?.recipients[0]?.local, 'c', 'the same.test job that was waiting for its domain');
  for (const a of answers.slice(1)) a.done(allWith(a.req, 'sent'));
  await transfer.waitForCall(5);
  for (const a of answers.slice(4)) a.done(allWith(a.req, 'sent'));
  await queue.whenIdle();
  assert.deepEqual(queue.list(), []);
});

test('flush() makes every deferred recipient due now', async (t) => {
  const transfer = new FakeCourier((req, call) => allWith(req, call === 1 ? 'transient' : 'sent'));
  const { dir, store, queue } = await setup(t, { transfer });
  queue.add(await storeItem(store, { to: ['bob@dest.test'] }));
  queue.start();
  await queue.whenIdle();
  assert.equal(queue.list()[0]?.recipients[0]?.status, 'deferred');
  queue.flush(); // the clock has not moved: only the flush can start the retry
  await transfer.waitForCall(2);
  await queue.whenIdle();
  assert.deepEqual(await readdir(dir), []);
});

test('flush() while a transfer is in flight does not start a second one for the same recipients', async (t) => {
  const answer = deferred<TransferResult>();
  const transfer = new FakeCourier((req, call) => (call === 1 ? answer.promise : allWith(req, 'sent')));
  const { dir, store, queue } = await setup(t, { transfer });
  queue.add(await storeItem(store, { to: ['bob@dest.test'] }));
  queue.start();
  const req = await transfer.waitForCall(1);
  queue.flush();
  queue.flush();
  assert.equal(transfer.calls.length, 1);
  answer.resolve(allWith(req, 'transient'));
  await queue.whenIdle();
  assert.equal(transfer.calls.length, 1, 'deferred after the attempt, not retried at once');
  queue.flush();
  await queue.whenIdle();
  assert.equal(transfer.calls.length, 2);
  assert.deepEqual(await readdir(dir), []);
});

test('the queue lifetime turns a transient failure into a bounce from <> to the sender, with the report inside', async (t) => {
  const transfer = new FakeCourier((req) => (req.reversePath === null ? allWith(req, 'transient') : allWith(req, 'transient', '451 4.4.1 No answer from host')));
  const { dir, time, store, queue } = await setup(t, { transfer });
  const item = await storeItem(store, { to: ['bob@dest.test'], created: T0 - 5 * DAY });
  queue.add(item);
  queue.start();
  await transfer.waitForCall(2); // the original, then its bounce
  await queue.whenIdle();

  const items = await onDisk(dir);
  assert.equal(items.length, 1, 'the original is gone, the bounce is queued');
  const bounce = items[0] as QueueItem;
  assert.notEqual(bounce.id, item.id);
  assert.equal(bounce.from, '');
  assert.equal(bounce.reversePath, null);
  assert.deepEqual(bounce.recipients.map((r) => [r.address, r.domain]), [['alice@origin.test', 'origin.test']]);
  assert.equal(bounce.created, new Date(time.now).toISOString());
  const body = await storedMessage(dir, bounce.id);
  assert.equal(bounce.size, Buffer.byteLength(body));
  assert.match(body, /^To: alice@origin\.test$/m);
  assert.match(body, /^Final-Recipient: rfc822; bob@dest\.test$/m);
  assert.match(body, /^Status: 4\.4\.7$/m);
  assert.match(body, /^Diagnostic-Code: smtp; 451 4\.4\.1 No answer from host$/m);
  assert.match(body, /delivery time expired: 451 4\.4\.1 No answer from host/);
  assert.match(body, /^Subject: Hello$/m, 'the original headers are quoted');

  const call = transfer.calls[1] as TransferRequest;
  assert.equal(call.reversePath, null, 'the bounce is sent from <>');
  assert.equal(call.domain, 'origin.test');
});

test('a transient failure whose next try would come after the lifetime fails now', async (t) => {
  const transfer = new FakeCourier((req) => (req.reversePath === null ? allWith(req, 'transient') : allWith(req, 'transient')));
  const { dir, store, queue } = await setup(t, { transfer });
  // 30 s of lifetime left, but the first retry is a minute away.
  const item = await storeItem(store, { to: ['bob@dest.test'], created: T0 - 5 * DAY + 30_000 });
  queue.add(item);
  queue.start();
  await transfer.waitForCall(2);
  await queue.whenIdle();
  const items = await onDisk(dir);
  assert.deepEqual(items.map((i) => i.from), [''], 'only the bounce is left');
});

test('one bounce lists every failed recipient, whatever their domain and reason', async (t) => {
  const transfer = new FakeCourier((req) => {
    if (req.reversePath === null) return allWith(req, 'transient');
    return req.domain === 'one.test' ? allWith(req, 'permanent', '550 5.1.1 No such user') : allWith(req, 'permanent', '554 5.7.1 Rejected');
  });
  const { dir, store, queue } = await setup(t, { transfer });
  queue.add(await storeItem(store, { to: ['a@one.test', 'b@two.test', 'c@one.test'] }));
  queue.start();
  await transfer.waitForCall(3);
  await queue.whenIdle();
  const items = await onDisk(dir);
  assert.equal(items.length, 1);
  const body = await storedMessage(dir, items[0]?.id ?? '');
  assert.deepEqual(body.match(/^Final-Recipient: .*$/gm), ['Final-Recipient: rfc822; a@one.test', 'Final-Recipient: rfc822; b@two.test', 'Final-Recipient: rfc822; c@one.test']);
  assert.deepEqual(body.match(/^Status: .*$/gm), ['Status: 5.1.1', 'Status: 5.7.1', 'Status: 5.1.1']);
  assert.equal(transfer.calls.filter((c) => c.reversePath === null).length, 1, 'one bounce only');
});

test('a message from <> that fails is dropped without a bounce', async (t) => {
  const transfer = new FakeCourier((req) => allWith(req, 'permanent'));
  const { dir, store, queue } = await setup(t, { transfer });
  queue.add(await storeItem(store, { from: '', to: ['bob@dest.test'] }));
  queue.start();
  await queue.whenIdle();
  assert.equal(transfer.calls.length, 1);
  assert.deepEqual(await readdir(dir), []);
});

test('mixed final outcomes: sent and failed recipients give a bounce for the failed one only', async (t) => {
  const transfer = new FakeCourier((req) => (req.reversePath === null ? allWith(req, 'transient') : allWith(req, req.domain === 'ok.test' ? 'sent' : 'permanent')));
  const { dir, store, queue } = await setup(t, { transfer });
  queue.add(await storeItem(store, { to: ['a@ok.test', 'b@bad.test'] }));
  queue.start();
  await transfer.waitForCall(3);
  await queue.whenIdle();
  const body = await storedMessage(dir, (await onDisk(dir))[0]?.id ?? '');
  assert.deepEqual(body.match(/^Final-Recipient: .*$/gm), ['Final-Recipient: rfc822; b@bad.test']);
});

test('delete() while idle removes the files and the queue forgets the item', async (t) => {
  const transfer = new FakeCourier((req) => allWith(req, 'transient'));
  const { dir, time, store, queue } = await setup(t, { transfer });
  const item = await storeItem(store, { to: ['bob@dest.test'] });
  queue.add(item);
  queue.start();
  await queue.whenIdle();
  assert.equal(await queue.delete(item.id), true);
  assert.deepEqual(await readdir(dir), []);
  assert.deepEqual(queue.list(), []);
  time.advanceTo(T0 + DAY);
  await queue.whenIdle();
  assert.equal(transfer.calls.length, 1, 'never tried again');
  assert.equal(await queue.delete(item.id), false);
});

test('delete() while a transfer is in flight: the result is dropped and the files stay removed', async (t) => {
  const answer = deferred<TransferResult>();
  const transfer = new FakeCourier(() => answer.promise);
  const { dir, store, queue } = await setup(t, { transfer });
  const item = await storeItem(store, { to: ['bob@dest.test'] });
  queue.add(item);
  queue.start();
  const req = await transfer.waitForCall(1);
  assert.equal(queue.list()[0]?.recipients[0]?.status, 'pending', 'being tried shows as pending');
  assert.equal(await queue.delete(item.id), true);
  assert.deepEqual(await readdir(dir), []);
  answer.resolve(allWith(req, 'transient'));
  await queue.whenIdle();
  assert.deepEqual(await readdir(dir), [], 'the late result wrote nothing back');
  assert.deepEqual(queue.list(), []);
});

test('an item found finished at startup (crash before its removal) is bounced and removed', async (t) => {
  const transfer = new FakeCourier((req) => allWith(req, 'transient'));
  const { dir, store, queue } = await setup(t, { transfer });
  const item = await storeItem(store, { to: ['bob@dest.test'] });
  const done: QueueItem = { ...item, recipients: item.recipients.map((r) => ({ ...r, status: 'failed', attempts: 3, diagnostic: '550 5.1.1 no', lastError: '550 5.1.1 no', dsnStatus: '5.1.1' })) };
  await store.save(done);
  queue.add(done);
  queue.start();
  await transfer.waitForCall(1);
  await queue.whenIdle();
  const items = await onDisk(dir);
  assert.deepEqual(items.map((i) => i.from), ['']);
  assert.equal(transfer.calls[0]?.reversePath, null, 'only the bounce is sent');
});

test('a transfer that rejects (a bug) defers instead of losing the message', async (t) => {
  const transfer = new FakeCourier(() => Promise.reject(new Error('boom')));
  const { dir, store, queue } = await setup(t, { transfer });
  const item = await storeItem(store, { to: ['bob@dest.test'] });
  queue.add(item);
  queue.start();
  await queue.whenIdle();
  const r = (await readItem(dir, item.id)).recipients[0];
  assert.equal(r?.status, 'deferred');
  assert.equal(r?.lastError, 'local error: boom');
});

test('every attempt is logged with its outcome, relay and delay', async (t) => {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  const transfer = new FakeCourier((req) => allWith(req, 'sent'));
  const { time, store, queue } = await setup(t, { transfer, logger: pino({ level: 'info' }, sink) });
  const item = await storeItem(store, { to: ['bob@dest.test'] });
  time.now = T0 + 42_000;
  queue.add(item);
  queue.start();
  await queue.whenIdle();
  const attempt = lines.find((l) => l.event === 'attempt');
  assert.deepEqual(
    { ...attempt, level: undefined, time: undefined, pid: undefined, hostname: undefined, msg: undefined },
    { event: 'attempt', id: item.id, domain: 'dest.test', recipients: ['bob@dest.test'], relay: 'mx.remote.test', ip: '192.0.2.25', tls: 'TLSv1.3', reply: '250 2.0.0 Ok', outcome: 'sent', delay_s: 42, level: undefined, time: undefined, pid: undefined, hostname: undefined, msg: undefined },
  );
});

test('close() waits for an attempt in flight at most its timeout, on the injected timers; the late result is dropped', async (t) => {
  const answer = deferred<TransferResult>();
  const transfer = new FakeCourier(() => answer.promise);
  const { dir, time, store, queue } = await setup(t, { transfer });
  const item = await storeItem(store, { to: ['bob@dest.test'] });
  queue.add(item);
  queue.start();
  const req = await transfer.waitForCall(1);
  let closed = false;
  const closing = queue.close(5000).then(() => {
    closed = true;
  });
  await new Promise((r) => setImmediate(r));
  assert.equal(closed, false, 'still waiting for the attempt');
  time.advanceTo(T0 + 5000);
  await closing;
  answer.resolve(allWith(req, 'transient'));
  await queue.whenIdle();
  assert.deepEqual(await readdir(dir), [`${item.id}.msg`], 'nothing written after close: the item is tried again after a restart');
});
