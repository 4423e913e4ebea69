// The MX's delivery through the LMTP store, against a scripted LMTP server: recipients checked at RCPT in one LMTP
// session, the message streamed, per-recipient replies after the dot, and what happens to recipients refused then.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { pino } from 'pino';
import type { Envelope, TransactionInfo } from '../../../src/delivery.js';
import { InboundDelivery } from '../../../src/inbound/inbound-delivery.js';
import { LmtpStore } from '../../../src/inbound/lmtp-store.js';
import { MaildirDelivery } from '../../../src/inbound/maildir-delivery.js';
import { Mailboxes } from '../../../src/inbound/mailboxes.js';
import type { Requeue } from '../../../src/inbound/requeue.js';
import { Spool } from '../../../src/inbound/spool-file.js';
import type { Address } from '../../../src/mail/address.js';
import { SmtpError } from '../../../src/smtp/smtp-error.js';
import { session } from '../../helpers/inbound-fixtures.js';
import { startFakeLmtp, type FakeLmtp, type LmtpScript } from '../../helpers/lmtp-server.js';
import { tempDir } from '../../helpers/temp-dir.js';

const users = { alice: ['alice@example.org', 'a.smith@example.org'], bob: ['bob@example.org'], carol: ['carol@example.org'], nobody: ['nobody@example.org'] };
const addr = (local: string): Address => ({ local, domain: 'example.org' });

interface Setup {
  server: FakeLmtp;
  delivery: InboundDelivery;
  requeued: { to: string[]; text: string }[];
  logs: Record<string, unknown>[];
}

async function setup(t: TestContext, script: LmtpScript, opts: { requeue?: boolean; path?: string } = {}): Promise<Setup> {
  const dir = await tempDir(t);
  const server = await startFakeLmtp(script);
  t.after(() => server.close());
  const logs: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
  const spool = await Spool.open(join(dir, 'spool'), process.pid);
  const store = new LmtpStore({ address: { path: opts.path ?? server.path }, endpoint: 'test', hostname: 'mx.test', timeout: 5000, recipient: 'mailbox', logger, spool });
  const local = new MaildirDelivery({ root: join(dir, 'mail'), hostname: 'mx.test', pid: 1, now: () => new Date(), logger, mailboxes: Mailboxes.fromEntries(['example.org'], users), store });
  t.after(() => local.close());
  const requeued: { to: string[]; text: string }[] = [];
  const requeue: Requeue = async (_from, to, body) => {
    const parts: Buffer[] = [];
    for await (const chunk of body) parts.push(chunk);
    requeued.push({ to: to.map((a) => a.local), text: Buffer.concat(parts).toString() });
  };
  return { server, delivery: new InboundDelivery(local, logger, opts.requeue === true ? { requeue } : {}), requeued, logs };
}

/** RCPT for each, in one transaction; returns the addresses accepted and the errors of the others. */
async function rcpts(s: Setup, tx: TransactionInfo, names: string[]): Promise<{ accepted: Address[]; refused: Map<string, SmtpError> }> {
  const accepted: Address[] = [];
  const refused = new Map<string, SmtpError>();
  for (const name of names) {
    const a = addr(name);
    try {
      await s.delivery.acceptRecipient(a, session, tx);
      accepted.push(a);
    } catch (err) {
      assert.ok(err instanceof SmtpError, String(err));
      refused.set(name, err);
    }
  }
  return { accepted, refused };
}

async function data(s: Setup, tx: TransactionInfo, recipients: Address[], text: string) {
  const envelope: Envelope = { reversePath: tx.reversePath, recipients, eightBit: false, smtputf8: false, declaredSize: null };
  const sink = await s.delivery.open(envelope, session);
  try {
    await sink.write(Buffer.from(text));
    return await sink.commit();
  } catch (err) {
    await sink.abort();
    throw err;
  }
}

const tx = (): TransactionInfo => ({ reversePath: { local: 's', domain: 'client.example' }, declaredSize: null });

test('recipients are asked at RCPT in one LMTP session, which then carries the message; the session is reused', async (t) => {
  const s = await setup(t, { rcpt: (to) => (to === 'bob' ? '552 5.2.2 <bob> Quota exceeded (mailbox for user is full)' : to === 'nobody' ? '550 5.1.1 <nobody> User doesn\'t exist' : '250 2.1.5 OK') });
  const t1 = tx();
  const { accepted, refused } = await rcpts(s, t1, ['alice', 'bob', 'nobody', 'carol']);
  assert.deepEqual(accepted.map((a) => a.local), ['alice', 'carol']);
  assert.equal(refused.get('bob')?.reply.code, 552);
  assert.equal(refused.get('bob')?.reply.enhanced, '5.2.2');
  assert.match(refused.get('bob')?.reply.lines.join(' ') ?? '', /Quota exceeded/);
  assert.equal(refused.get('nobody')?.reply.code, 550);
  const reply = await data(s, t1, accepted, 'Subject: hi\n\nhello\n');
  assert.equal(reply.code, 250);
  assert.equal(s.server.transactions.length, 1);
  assert.deepEqual(s.server.transactions[0]?.to, ['alice', 'bob', 'nobody', 'carol']);
  assert.equal(s.server.transactions[0]?.data, 'Subject: hi\r\n\r\nhello\r\n');
  // The next message goes through the same connection (kept idle between them).
  const t2 = tx();
  const second = await rcpts(s, t2, ['alice']);
  assert.equal((await data(s, t2, second.accepted, 'Subject: again\n\nx\n')).code, 250);
  assert.equal(s.server.connections(), 1);
});

test('refused after the data while others took it: the refused ones go to the queue, the client gets 250', async (t) => {
  const s = await setup(t, { final: (to) => (to === 'bob' ? '452 4.2.2 <bob> Quota exceeded' : `250 2.0.0 <${to}> Saved`) }, { requeue: true });
  const t1 = tx();
  const { accepted } = await rcpts(s, t1, ['alice', 'bob']);
  const reply = await data(s, t1, accepted, 'Subject: split\n\nbody\n');
  assert.equal(reply.code, 250);
  assert.equal(s.requeued.length, 1);
  assert.deepEqual(s.requeued[0]?.to, ['bob']);
  assert.equal(s.requeued[0]?.text, 'Subject: split\n\nbody\n');
  assert.ok(s.logs.some((l) => l.event === 'requeued'));
});

test('refused after the data with no queue to take them: 451 4.3.0 for the whole message (duplicates, not losses)', async (t) => {
  const s = await setup(t, { final: (to) => (to === 'bob' ? '552 5.2.2 <bob> Quota exceeded' : `250 2.0.0 <${to}> Saved`) });
  const t1 = tx();
  const { accepted } = await rcpts(s, t1, ['alice', 'bob']);
  await assert.rejects(data(s, t1, accepted, 'Subject: split\n\nbody\n'), (err: unknown) => err instanceof SmtpError && err.reply.code === 451 && err.reply.enhanced === '4.3.0');
  assert.ok(s.logs.some((l) => l.event === 'partial-delivery'));
});

test('refused for everyone after the data: a transient failure wins over a permanent one, else the permanent one', async (t) => {
  const s = await setup(t, { final: (to) => (to === 'bob' ? '452 4.2.2 <bob> Try later' : `552 5.2.2 <${to}> Quota exceeded`) });
  const t1 = tx();
  const both = await rcpts(s, t1, ['alice', 'bob']);
  await assert.rejects(data(s, t1, both.accepted, 'x\n'), (err: unknown) => err instanceof SmtpError && err.reply.code === 452);
  const t2 = tx();
  const one = await rcpts(s, t2, ['alice']);
  await assert.rejects(data(s, t2, one.accepted, 'x\n'), (err: unknown) => err instanceof SmtpError && err.reply.code === 552 && err.reply.enhanced === '5.2.2');
});

test('the server dying among its final replies: those it answered are kept, the others are not counted as delivered', async (t) => {
  const s = await setup(t, { dropAfter: 1 }, { requeue: true });
  const t1 = tx();
  const { accepted } = await rcpts(s, t1, ['alice', 'bob']);
  assert.equal((await data(s, t1, accepted, 'Subject: cut\n\nx\n')).code, 250);
  assert.deepEqual(s.requeued[0]?.to, ['bob']);
});

test('no LMTP server: 451 4.3.0 at RCPT, logged', async (t) => {
  const s = await setup(t, {}, { path: '/nonexistent/lmtp' });
  const { refused } = await rcpts(s, tx(), ['alice']);
  assert.equal(refused.get('alice')?.reply.code, 451);
  assert.equal(refused.get('alice')?.reply.enhanced, '4.3.0');
  assert.ok(s.logs.some((l) => l.event === 'lmtp-unavailable'));
});

test('an aborted message never reaches the server: the connection is dropped before the dot', async (t) => {
  const s = await setup(t, {});
  const t1 = tx();
  const { accepted } = await rcpts(s, t1, ['alice']);
  const sink = await s.delivery.open({ reversePath: null, recipients: accepted, eightBit: false, smtputf8: false, declaredSize: null }, session);
  await sink.write(Buffer.from('Subject: half\n\n'));
  await sink.abort();
  assert.equal(s.server.transactions[0]?.data, null);
});

test('a recipient the server accepted but the core then refused (greylisting) is not delivered: the transaction starts over', async (t) => {
  const s = await setup(t, {});
  const t1 = tx();
  const { accepted } = await rcpts(s, t1, ['alice', 'bob']);
  const onlyAlice = accepted.filter((a) => a.local === 'alice');
  assert.equal((await data(s, t1, onlyAlice, 'Subject: one\n\nx\n')).code, 250);
  const delivered = s.server.transactions.filter((x) => x.data !== null);
  assert.equal(delivered.length, 1);
  assert.deepEqual(delivered[0]?.to, ['alice']);
});
