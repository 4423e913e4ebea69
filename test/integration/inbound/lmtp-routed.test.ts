// The router's deliveries through the LMTP store (README, Addresses and With Dovecot): each mailbox an alias leads
// to asked at RCPT, one LMTP transaction whatever the folders, forwards both or neither, late refusals requeued.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import type { Delivery, Envelope, TransactionInfo } from '../../../src/delivery.js';
import { InboundDelivery } from '../../../src/inbound/inbound-delivery.js';
import { LmtpStore } from '../../../src/inbound/lmtp-store.js';
import { MaildirDelivery } from '../../../src/inbound/maildir-delivery.js';
import { Mailboxes } from '../../../src/inbound/mailboxes.js';
import type { Requeue } from '../../../src/inbound/requeue.js';
import { Spool } from '../../../src/inbound/spool-file.js';
import type { Address } from '../../../src/mail/address.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { AliasTable } from '../../../src/routing/alias-table.js';
import { InboundRouting } from '../../../src/routing/inbound-routing.js';
import { RoutedLocalCourier } from '../../../src/routing/routed-local-courier.js';
import { Router } from '../../../src/routing/router.js';
import { routerDeps } from '../../../src/routing/routing-setup.js';
import { replies } from '../../../src/smtp/replies.js';
import { SmtpError } from '../../../src/smtp/smtp-error.js';
import { Srs } from '../../../src/srs/srs.js';
import { session } from '../../helpers/inbound-fixtures.js';
import { startFakeLmtp, type LmtpScript } from '../../helpers/lmtp-server.js';
import { tempDir } from '../../helpers/temp-dir.js';

const addr = (text: string): Address => ({ local: text.slice(0, text.indexOf('@')), domain: text.slice(text.indexOf('@') + 1) });

interface Forward {
  released: boolean;
  discarded: boolean;
}

async function setup(t: TestContext, script: LmtpScript, opts: { requeue: boolean }) {
  const dir = await tempDir(t);
  const root = join(dir, 'mail');
  const server = await startFakeLmtp(script);
  t.after(() => server.close());
  const logger = silentLogger();
  const spool = await Spool.open(join(dir, 'spool'), process.pid);
  const store = new LmtpStore({ address: { path: server.path }, endpoint: 'test', hostname: 'mx.test', timeout: 5000, recipient: 'mailbox', logger, spool });
  const mailboxes = Mailboxes.fromEntries(['example.org'], { alice: ['alice@example.org'], bob: ['bob@example.org'] });
  const maildirs = new MaildirDelivery({ root, hostname: 'mx.test', pid: 1, now: () => new Date(), logger, mailboxes, store });
  t.after(() => maildirs.close());
  // alice has a .shop folder on disk: over LMTP it is not facteur's to choose, so it must not split the transaction.
  await mkdir(join(root, 'alice', '.shop', 'new'), { recursive: true });
  const srs = new Srs({ secrets: [Buffer.from('k')], domain: 'example.org', maxAge: 21 * 86_400_000, now: () => 1764000000000 });
  const aliases = AliasTable.of([{ where: 'a', alias: 'sales@example.org', targets: ['alice+shop@example.org', 'bob@example.org', 'dave@elsewhere.test'] }], ['example.org']);
  const router = new Router(routerDeps(maildirs, root, srs), { aliases, delimiters: '+', deliverToSubfolder: true });
  const forwards: Forward[] = [];
  const queue: Delivery = {
    async acceptRecipient() {},
    async open() {
      const f: Forward = { released: false, discarded: false };
      forwards.push(f);
      return {
        write: async () => undefined,
        commit: async () => replies.queued('Q1'),
        prepare: async () => ({ reply: replies.queued('Q1'), release: () => void (f.released = true), discard: async () => void (f.discarded = true) }),
        abort: async () => undefined,
      };
    },
  };
  const routing = new InboundRouting({ router, maildirs, forwarder: () => queue, srs, logger });
  const requeued: string[][] = [];
  const requeue: Requeue = async (_from, to, body) => {
    for await (const _ of body); // read as the queue would
    requeued.push(to.map((a) => `${a.local}@${a.domain}`));
  };
  const delivery = new InboundDelivery(maildirs, logger, { routing, ...(opts.requeue ? { requeue } : {}) });
  return { server, delivery, forwards, requeued, courier: new RoutedLocalCourier(routing, maildirs, 'mx.test') };
}

async function send(delivery: InboundDelivery, to: string[]) {
  const tx: TransactionInfo = { reversePath: addr('s@client.example'), declaredSize: null };
  const recipients = to.map(addr);
  for (const r of recipients) await delivery.acceptRecipient(r, session, tx);
  const envelope: Envelope = { reversePath: tx.reversePath, recipients, eightBit: false, smtputf8: false, declaredSize: null };
  const sink = await delivery.open(envelope, session);
  try {
    await sink.write(Buffer.from('Subject: hi\n\nhello\n'));
    return await sink.commit();
  } catch (err) {
    await sink.abort();
    throw err;
  }
}

test('an alias: each mailbox asked at RCPT, one LMTP transaction for all (no folder split), the forward released', async (t) => {
  const s = await setup(t, {}, { requeue: false });
  const reply = await send(s.delivery, ['sales@example.org', 'alice@example.org']);
  assert.equal(reply.code, 250);
  assert.equal(s.server.transactions.length, 1);
  assert.deepEqual(s.server.transactions[0]?.to, ['alice', 'bob']);
  assert.equal(s.server.transactions[0]?.data, 'Subject: hi\r\n\r\nhello\r\n');
  assert.deepEqual(s.forwards, [{ released: true, discarded: false }]);
});

test('a full mailbox among an alias\'s: the alias is refused at RCPT with the LMTP server\'s reply', async (t) => {
  const s = await setup(t, { rcpt: (to) => (to === 'bob' ? '552 5.2.2 <bob> Quota exceeded' : '250 2.1.5 OK') }, { requeue: false });
  await assert.rejects(s.delivery.acceptRecipient(addr('sales@example.org'), session, { reversePath: null, declaredSize: null }), (err: unknown) => err instanceof SmtpError && err.reply.code === 552);
});

test('a mailbox refused after the data: requeued under the address that reached it, the forward released, 250', async (t) => {
  const s = await setup(t, { final: (to) => (to === 'bob' ? '452 4.2.2 <bob> Quota exceeded' : `250 2.0.0 <${to}> Saved`) }, { requeue: true });
  const reply = await send(s.delivery, ['sales@example.org']);
  assert.equal(reply.code, 250);
  assert.deepEqual(s.requeued, [['bob@example.org']]);
  assert.deepEqual(s.forwards, [{ released: true, discarded: false }]);
});

test('a mailbox refused after the data with no queue: 451 4.3.0, and the forward discarded (the retry sends it)', async (t) => {
  const s = await setup(t, { final: (to) => (to === 'bob' ? '452 4.2.2 <bob> Quota exceeded' : `250 2.0.0 <${to}> Saved`) }, { requeue: false });
  await assert.rejects(send(s.delivery, ['sales@example.org']), (err: unknown) => err instanceof SmtpError && err.reply.code === 451);
  assert.deepEqual(s.forwards, [{ released: false, discarded: true }]);
});

test('the relay\'s local mail: a recipient whose mailbox the LMTP server refused after the data is retried, the others sent', async (t) => {
  const s = await setup(t, { final: (to) => (to === 'bob' ? '452 4.2.2 <bob> Quota exceeded' : `250 2.0.0 <${to}> Saved`) }, { requeue: false });
  const text = Buffer.from('Subject: hi\n\nhello\n');
  const recipients = [addr('alice@example.org'), addr('sales@example.org'), addr('bob@example.org')];
  const result = await s.courier.deliver({
    id: 'Q1', domain: 'example.org', reversePath: addr('s@client.example'), recipients,
    openBody: () => [text], size: text.length, eightBit: false, smtputf8: false,
  });
  // sales@ leads to bob as well: it is tried again as a whole (alice may get it twice, nobody loses it).
  assert.deepEqual(result.outcomes.map((o) => o.status), ['sent', 'transient', 'transient']);
  assert.match(result.outcomes[2]!.diagnostic, /^452 4\.2\.2/);
  assert.deepEqual(s.server.transactions.filter((x) => x.data !== null).map((x) => x.to), [['alice', 'bob']]);
  assert.deepEqual(s.forwards, [{ released: true, discarded: false }]);
});
