// OutboundDelivery: RCPT policy of the relay, and a sink whose commit makes a durable queue item (or leaves nothing).
import assert from 'node:assert/strict';
import { readdir, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { pino } from 'pino';
import type { Envelope, SessionInfo } from '../../../src/delivery.js';
import { DkimSigner } from '../../../src/mailauth/dkim-signer.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { OutboundDelivery, type DeliveryStore } from '../../../src/outbound/outbound-delivery.js';
import { parseEnvelope } from '../../../src/outbound/queue-file.js';
import type { QueueItem } from '../../../src/outbound/queue-item.js';
import type { MessageWriter } from '../../../src/outbound/queue-store.js';
import { SmtpError } from '../../../src/smtp/smtp-error.js';
import { makeTestKeys } from '../../helpers/dkim.js';
import { addr, ManualTime, openStore, T0 } from '../../helpers/queue-fixtures.js';
import { tempDir } from '../../helpers/temp-dir.js';

const session: SessionInfo = {
  id: 's1',
  remoteAddress: '127.0.0.1',
  remotePort: 40000,
  localAddress: '127.0.0.1',
  localPort: 587,
  heloName: 'client.test',
  esmtp: true,
  tls: null,
};

const envelope = (over: Partial<Envelope> = {}): Envelope => ({
  reversePath: addr('alice@origin.test'),
  recipients: [addr('bob@dest.test'), addr('carol@[192.0.2.7]')],
  eightBit: true,
  smtputf8: false,
  declaredSize: null,
  ...over,
});

async function setup(t: Parameters<typeof tempDir>[0]) {
  const dir = await tempDir(t);
  const time = new ManualTime();
  const { store } = await openStore(dir, time);
  const queued: QueueItem[] = [];
  const delivery = new OutboundDelivery({ store, enqueue: (item) => queued.push(item), logger: silentLogger(), now: time.read });
  return { dir, time, store, queued, delivery };
}

async function assertSmtpError(p: Promise<unknown>, code: number, enhanced: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof SmtpError, `SmtpError expected, got ${String(err)}`);
    assert.equal(err.reply.code, code);
    assert.equal(err.reply.enhanced, enhanced);
    return true;
  });
}

test('any domain and address literals are accepted; the bare <postmaster> is refused', async (t) => {
  const { delivery } = await setup(t);
  await delivery.acceptRecipient(addr('someone@anywhere.example'), session);
  await delivery.acceptRecipient(addr('x@[IPv6:2001:db8::1]'), session);
  await assertSmtpError(delivery.acceptRecipient({ local: 'postmaster', domain: '' }, session), 550, '5.1.1');
});

test('commit writes <id>.msg (envelope line, then the message), hands the item to the queue and answers 250 queued', async (t) => {
  const { dir, queued, delivery } = await setup(t);
  const sink = await delivery.open(envelope({ recipients: [addr('bob@Dest.test'), addr('bob@dest.TEST'), addr('carol@[192.0.2.7]')] }), session);
  await sink.write(Buffer.from('Received: from client\n'));
  await sink.write(Buffer.from('Subject: hi\n\nbody line\n'));
  const reply = await sink.commit();
  assert.equal(reply.code, 250);
  assert.equal(reply.enhanced, '2.0.0');
  const id = /queued as ([A-Za-z0-9]+)$/.exec(reply.lines[0] ?? '')?.[1] ?? '';
  assert.deepEqual(await readdir(dir), [`${id}.msg`], 'one file per message; no state file before an attempt');
  const file = await readFile(join(dir, `${id}.msg`), 'utf8');
  const lf = file.indexOf('\n');
  assert.equal(file.slice(lf + 1), 'Received: from client\nSubject: hi\n\nbody line\n');
  const item = parseEnvelope(file.slice(0, lf), file.length - lf - 1);
  assert.deepEqual(queued, [item]);
  assert.equal(item.from, 'alice@origin.test');
  assert.equal(item.created, new Date(T0).toISOString());
  assert.equal(item.size, 45);
  assert.equal(item.eightBit, true);
  assert.deepEqual(
    item.recipients.map((r) => [r.address, r.domain, r.status, r.attempts, r.nextAttempt, r.lastError]),
    [
      ['bob@Dest.test', 'dest.test', 'pending', 0, null, null],
      ['carol@[192.0.2.7]', '[192.0.2.7]', 'pending', 0, null, null],
    ],
    'one copy per mailbox, domains lower-cased',
  );
  await sink.abort(); // after commit: a no-op
  assert.equal((await readdir(dir)).length, 1);
});

test('the null sender is stored as ""', async (t) => {
  const { queued, delivery } = await setup(t);
  const sink = await delivery.open(envelope({ reversePath: null }), session);
  await sink.write(Buffer.from('Subject: x\n\n'));
  await sink.commit();
  assert.equal(queued[0]?.from, '');
  assert.equal(queued[0]?.reversePath, null);
});

test('abort() removes everything, any number of times', async (t) => {
  const { dir, queued, delivery } = await setup(t);
  const sink = await delivery.open(envelope(), session);
  await sink.write(Buffer.from('Subject: x\n\npartial'));
  await sink.abort();
  await sink.abort();
  assert.deepEqual(await readdir(dir), []);
  assert.deepEqual(queued, []);
});

test('a write failure is remembered and reported by commit as 451 4.3.0, leaving nothing', async (t) => {
  const { dir, store } = await setup(t);
  let discarded = 0;
  // A writer keeps its I/O errors and reports them when it finishes (MessageWriter's contract).
  const enospc = Object.assign(new Error('no space left'), { code: 'ENOSPC' });
  const failing: DeliveryStore = {
    newId: () => store.newId(),
    createMessage: async (item): Promise<MessageWriter> => ({
      id: item.id,
      write: async () => undefined,
      finish: () => Promise.reject(enospc),
      discard: async () => {
        discarded += 1;
      },
    }),
  };
  const queued: QueueItem[] = [];
  const delivery = new OutboundDelivery({ store: failing, enqueue: (i) => queued.push(i), logger: silentLogger(), now: () => T0 });
  const sink = await delivery.open(envelope(), session);
  await sink.write(Buffer.from('a\n')); // does not throw
  await sink.write(Buffer.from('b\n'));
  await assertSmtpError(sink.commit(), 451, '4.3.0');
  assert.ok(discarded >= 1);
  assert.deepEqual(queued, []);
  assert.deepEqual(await readdir(dir), []);
  await sink.abort();
});

test('a failure while committing (the fsync of the file or its directory) answers 451 4.3.0 and leaves nothing', async (t) => {
  const { dir, store } = await setup(t);
  const failing: DeliveryStore = {
    newId: () => store.newId(),
    createMessage: async (item) => {
      const real = await store.createMessage(item);
      return {
        id: real.id,
        write: (chunk) => real.write(chunk),
        finish: async () => {
          await real.finish(); // named and flushed: the failure comes after the link, the worst moment
          throw Object.assign(new Error('EIO: directory fsync'), { code: 'EIO' });
        },
        discard: () => real.discard(),
      };
    },
  };
  const delivery = new OutboundDelivery({ store: failing, enqueue: () => assert.fail('nothing to enqueue'), logger: silentLogger(), now: () => T0 });
  const sink = await delivery.open(envelope(), session);
  await sink.write(Buffer.from('Subject: x\n\nbody\n'));
  await assertSmtpError(sink.commit(), 451, '4.3.0');
  assert.deepEqual(await readdir(dir), []);
});

test('an unusable queue directory: the file is created while the text arrives, so commit answers 451 4.3.0', async (t) => {
  const { dir, delivery, queued } = await setup(t);
  await rm(dir, { recursive: true });
  const sink = await delivery.open(envelope(), session);
  await sink.write(Buffer.from('Subject: x\n\nbody\n'));
  await assertSmtpError(sink.commit(), 451, '4.3.0');
  assert.deepEqual(queued, []);
  await sink.abort();
});

test('with a signer: DKIM-Signature fields on top of the stored message and counted in its size; unsigned without a key (debug), or with a header section too large (a warning)', async (t) => {
  const keys = await makeTestKeys([['origin.test', 'sel', 'ed25519']]);
  t.after(() => rm(dirname(keys.keyDir), { recursive: true, force: true }));
  const huge = `X-Padding: ${'x'.repeat(70)}\n`.repeat(4000); // 324,000 octets of header section
  const cases: readonly [string, string, boolean, string | null][] = [
    // name, message, signed, warning's reason
    ['a listed From: domain', 'From: <alice@origin.test>\nSubject: hi\n\nbody\n', true, null],
    ['a From: domain without a key', 'From: <alice@elsewhere.test>\nSubject: hi\n\nbody\n', false, null],
    ['a header section too large to hold', `From: <alice@origin.test>\n${huge}\nbody\n`, false, 'header-too-large'],
  ];
  for (const [name, text, signed, warning] of cases) {
    const dir = await tempDir(t);
    const time = new ManualTime();
    const { store } = await openStore(dir, time);
    const lines: Record<string, unknown>[] = [];
    const logSink = new Writable({ write: (chunk: Buffer, _e, done) => void (lines.push(JSON.parse(chunk.toString())), done()) });
    const queued: QueueItem[] = [];
    const signer = new DkimSigner({ keys: keys.keys });
    const delivery = new OutboundDelivery({ store, enqueue: (item) => queued.push(item), logger: pino({ level: 'info' }, logSink), now: time.read, signer });
    const sink = await delivery.open(envelope(), session);
    await sink.write(Buffer.from('Received: from client\n'));
    for (let i = 0; i < text.length; i += 65536) await sink.write(Buffer.from(text.slice(i, i + 65536)));
    await sink.commit();
    const file = await readFile(join(dir, `${queued[0]!.id}.msg`), 'utf8');
    const message = file.slice(file.indexOf('\n') + 1);
    assert.equal(message.startsWith('DKIM-Signature: '), signed, name);
    assert.ok(message.endsWith(`Received: from client\n${text}`), name);
    assert.equal(queued[0]!.size, Buffer.byteLength(message), name);
    const warned = lines.filter((l) => l.event === 'dkim-skipped' && l.level === 40).map((l) => l.reason);
    assert.deepEqual(warned, warning === null ? [] : [warning], name);
  }
});
