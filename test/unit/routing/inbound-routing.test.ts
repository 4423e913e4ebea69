// The MX's delivery with the router: Maildir copies per folder and the forwarded copy, what each failure leaves.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import type { Delivery, Envelope } from '../../../src/delivery.js';
import { InboundDelivery } from '../../../src/inbound/inbound-delivery.js';
import { MaildirDelivery } from '../../../src/inbound/maildir-delivery.js';
import { Mailboxes } from '../../../src/inbound/mailboxes.js';
import type { MessageCheck } from '../../../src/inbound/message-check.js';
import type { Address } from '../../../src/mail/address.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { AliasTable } from '../../../src/routing/alias-table.js';
import { InboundRouting } from '../../../src/routing/inbound-routing.js';
import { Router } from '../../../src/routing/router.js';
import { routerDeps } from '../../../src/routing/routing-setup.js';
import { replies } from '../../../src/smtp/replies.js';
import { SmtpError } from '../../../src/smtp/smtp-error.js';
import { Srs } from '../../../src/srs/srs.js';
import { list, session } from '../../helpers/inbound-fixtures.js';
import { tempDir } from '../../helpers/temp-dir.js';

interface Forwarded {
  envelope: Envelope;
  chunks: Buffer[];
  prepared: boolean;
  committed: boolean;
  aborted: boolean;
}

type Mode = 'ok' | 'fail-open' | 'fail-commit' | 'none' | 'no-prepare';

async function setup(t: TestContext, mode: Mode, checks: MessageCheck[] = []) {
  const root = join(await tempDir(t), 'mail');
  const mailboxes = Mailboxes.fromEntries(['example.org'], { alice: ['alice@example.org'], bob: ['bob@example.org'] });
  const logger = silentLogger();
  const maildirs = new MaildirDelivery({ root, hostname: 'mx1', pid: 1, now: () => new Date(1764000000000), logger, mailboxes });
  t.after(() => maildirs.close());
  const srs = new Srs({ secrets: [Buffer.from('k')], domain: 'example.org', maxAge: 21 * 86_400_000, now: () => 1764000000000 });
  const aliases = AliasTable.of(
    [
      { where: 'a', alias: 'sales@example.org', targets: ['alice+shop@example.org', 'dave@elsewhere.test'] },
      { where: 'b', alias: 'out@example.org', targets: ['dave@elsewhere.test'] },
    ],
    ['example.org'],
  );
  const router = new Router(routerDeps(maildirs, root, srs), { aliases, delimiters: '+', deliverToSubfolder: true });
  const forwarded: Forwarded[] = [];
  const queue: Delivery = {
    async acceptRecipient() {},
    async open(envelope) {
      if (mode === 'fail-open') throw new SmtpError(replies.storageFailure());
      const f: Forwarded = { envelope, chunks: [], prepared: false, committed: false, aborted: false };
      forwarded.push(f);
      return {
        write: async (c) => void f.chunks.push(c),
        commit: async () => {
          if (mode === 'fail-commit') throw new SmtpError(replies.storageFailure());
          f.committed = true;
          return replies.queued('Q1');
        },
        // As the relay's queue: durable first, scheduled on release.
        ...(mode === 'no-prepare'
          ? {}
          : {
              prepare: async () => {
                if (mode === 'fail-commit') throw new SmtpError(replies.storageFailure());
                f.prepared = true;
                return { reply: replies.queued('Q1'), release: () => void (f.committed = true), discard: async () => void (f.aborted = true) };
              },
            }),
        abort: async () => void (f.aborted = true),
      };
    },
  };
  const routing = new InboundRouting({ router, maildirs, forwarder: () => (mode === 'none' ? null : queue), srs, logger });
  const delivery = new InboundDelivery(maildirs, logger, { checking: { checks, authservId: null }, routing });
  await mkdir(join(root, 'alice', '.shop', 'new'), { recursive: true });
  return { root, delivery, forwarded };
}

const addr = (text: string): Address => ({ local: text.slice(0, text.indexOf('@')), domain: text.slice(text.indexOf('@') + 1) });

async function send(delivery: InboundDelivery, from: string | null, to: string[]) {
  const recipients = to.map(addr);
  for (const r of recipients) await delivery.acceptRecipient(r, session);
  const envelope: Envelope = { reversePath: from === null ? null : addr(from), recipients, eightBit: false, smtputf8: false, declaredSize: null };
  const sink = await delivery.open(envelope, session);
  try {
    await sink.write(Buffer.from('Received: by mx1\nSubject: hi\n\nHello.\n'));
    return await sink.commit();
  } catch (err) {
    await sink.abort();
    throw err;
  }
}

const is451 = (err: unknown) => err instanceof SmtpError && err.reply.code === 451 && err.reply.enhanced === '4.3.0';

test('an alias with a subaddress and an outside target: .shop gets the copy, the queue the text from the SRS sender', async (t) => {
  const { root, delivery, forwarded } = await setup(t, 'ok');
  const reply = await send(delivery, 'sender@client.example', ['sales@example.org', 'bob@example.org']);
  assert.equal(reply.code, 250);
  assert.match(reply.lines[0]!, /delivered/);
  assert.equal((await list(root, 'alice/.shop', 'new')).length, 1);
  assert.equal((await list(root, 'bob', 'new')).length, 1);
  assert.equal(forwarded.length, 1);
  const [f] = forwarded;
  assert.match(f!.envelope.reversePath!.local, /^SRS0=/);
  assert.deepEqual(f!.envelope.recipients, [addr('dave@elsewhere.test')]);
  assert.equal(Buffer.concat(f!.chunks).toString(), 'Received: by mx1\nSubject: hi\n\nHello.\n');
  assert.equal(f!.committed, true);
});

test('forward only: the queue\'s reply; the null and local senders are not rewritten', async (t) => {
  const { root, delivery, forwarded } = await setup(t, 'ok');
  assert.match((await send(delivery, null, ['out@example.org'])).lines[0]!, /queued as Q1/);
  assert.equal(forwarded[0]!.envelope.reversePath, null);
  await send(delivery, 'bob@example.org', ['out@example.org']);
  assert.deepEqual(forwarded[1]!.envelope.reversePath, addr('bob@example.org'));
  assert.deepEqual(await list(root, 'alice', 'new'), []);
});

test('no queue, or one that cannot open: 451 4.3.0 and no Maildir copy left', async (t) => {
  for (const mode of ['none', 'fail-open'] as const) {
    const { root, delivery } = await setup(t, mode);
    await assert.rejects(send(delivery, 's@client.example', ['sales@example.org']), is451, mode);
    assert.deepEqual(await list(root, 'alice/.shop', 'new'), [], mode);
    assert.deepEqual(await list(root, 'alice/.shop', 'tmp'), [], mode);
  }
});

test('a queue that cannot make the copy durable: 451 4.3.0, and no Maildir copy either', async (t) => {
  const { root, delivery, forwarded } = await setup(t, 'fail-commit');
  await assert.rejects(send(delivery, 's@client.example', ['sales@example.org', 'bob@example.org']), is451);
  assert.equal(forwarded[0]!.committed, false);
  assert.deepEqual(await list(root, 'alice/.shop', 'new'), []);
  assert.deepEqual(await list(root, 'bob', 'new'), []);
});

test('Maildir copies that fail: the prepared forward is discarded, never scheduled', async (t) => {
  const { root, delivery, forwarded } = await setup(t, 'ok');
  // bob's Maildir cannot be made: a file where its folder should be.
  await mkdir(root, { recursive: true });
  await writeFile(join(root, 'bob'), 'not a folder');
  await assert.rejects(send(delivery, 's@client.example', ['sales@example.org', 'bob@example.org']), is451);
  assert.equal(forwarded.length, 0, 'the copies could not even be opened: the forward was never opened');
});

test('a check that refuses the message after the forward is durable: the forward is discarded, never scheduled', async (t) => {
  const reject: MessageCheck = {
    name: 'test',
    start: () => ({ write: () => undefined, finish: async () => ({ action: 'reject', reply: replies.policyRefused(), headers: [] }), abort: () => undefined }),
  };
  const { root, delivery, forwarded } = await setup(t, 'ok', [reject]);
  await assert.rejects(send(delivery, 's@client.example', ['sales@example.org']), (err: SmtpError) => err.reply.code === 550);
  assert.deepEqual([forwarded[0]!.prepared, forwarded[0]!.committed, forwarded[0]!.aborted], [true, false, true]);
  assert.deepEqual(await list(root, 'alice/.shop', 'new'), []);
});

test('a sink without prepare: committed after the copies', async (t) => {
  const { root, delivery, forwarded } = await setup(t, 'no-prepare');
  await send(delivery, 's@client.example', ['sales@example.org']);
  assert.equal(forwarded[0]!.committed, true);
  assert.equal((await list(root, 'alice/.shop', 'new')).length, 1);
});
