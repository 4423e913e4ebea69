// InboundDelivery over MaildirDelivery: who may receive mail here, and what a delivered file holds.
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { pino } from 'pino';
import type { Envelope } from '../../../src/delivery.js';
import { InboundDelivery } from '../../../src/inbound/inbound-delivery.js';
import { MaildirDelivery } from '../../../src/inbound/maildir-delivery.js';
import { Mailboxes } from '../../../src/inbound/mailboxes.js';
import type { Address } from '../../../src/mail/address.js';
import { SmtpError } from '../../../src/smtp/smtp-error.js';
import { list, session } from '../../helpers/inbound-fixtures.js';
import { tempDir } from '../../helpers/temp-dir.js';

const users = {
  alice: ['alice@example.org', 'a.smith@example.org'],
  bob: ['bob@example.org'],
  postmaster: ['postmaster@example.org'],
};

async function setup(t: TestContext) {
  const root = join(await tempDir(t), 'mail');
  const logs: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
  const mailboxes = Mailboxes.fromEntries(['example.org'], users);
  const local = new MaildirDelivery({ root, hostname: 'mx1', pid: 4242, now: () => new Date(1764000000000), logger, mailboxes });
  t.after(() => local.close());
  return { root, logs, local, delivery: new InboundDelivery(local, logger) };
}

const addr = (local: string, domain: string): Address => ({ local, domain });

function envelope(reversePath: Address | null, recipients: Address[]): Envelope {
  return { reversePath, recipients, eightBit: false, smtputf8: false, declaredSize: null };
}

function rejectsWith(code: number, enhanced: string) {
  return (err: unknown) => {
    assert.ok(err instanceof SmtpError, String(err));
    assert.equal(err.reply.code, code);
    assert.equal(err.reply.enhanced, enhanced);
    return true;
  };
}

test('acceptRecipient: local users pass, in any case', async (t) => {
  const { delivery } = await setup(t);
  await delivery.acceptRecipient(addr('alice', 'example.org'), session);
  await delivery.acceptRecipient(addr('A.Smith', 'EXAMPLE.ORG'), session);
  await delivery.acceptRecipient(addr('Postmaster', ''), session);
  await delivery.acceptRecipient(addr('postmaster', 'example.org'), session);
});

test('acceptRecipient: a foreign domain is relaying (550 5.7.1), an unknown user is 550 5.1.1', async (t) => {
  const { delivery } = await setup(t);
  for (const to of [addr('alice', 'example.net'), addr('alice', 'example.org.'), addr('alice', '[127.0.0.1]'), addr('alice', '[IPv6:::1]'), addr('alice', '')]) {
    await assert.rejects(delivery.acceptRecipient(to, session), rejectsWith(550, '5.7.1'), `${to.local}@${to.domain}`);
  }
  await assert.rejects(delivery.acceptRecipient(addr('nobody', 'example.org'), session), rejectsWith(550, '5.1.1'));
});

test('a delivered file holds Return-Path, then what the core wrote', async (t) => {
  const { root, delivery, logs } = await setup(t);
  const to = addr('alice', 'example.org');
  await delivery.acceptRecipient(to, session);
  const sink = await delivery.open(envelope(addr('Sender', 'Example.NET'), [to]), session);
  await sink.write(Buffer.from('Received: from client.test by mx1; Mon, 24 Nov 2025 16:00:00 +0000\n'));
  await sink.write(Buffer.from('Subject: hi\n\n.dot-unstuffed line\n'));
  const reply = await sink.commit();
  const [name] = await list(root, 'alice', 'new');
  assert.equal(name, '1764000000.M0P4242Q1.mx1');
  assert.deepEqual(reply, { code: 250, enhanced: '2.0.0', lines: [`Ok: delivered as ${name}`] });
  const content = await readFile(join(root, 'alice', 'new', name!), 'utf8');
  assert.equal(content, 'Return-Path: <Sender@Example.NET>\nReceived: from client.test by mx1; Mon, 24 Nov 2025 16:00:00 +0000\nSubject: hi\n\n.dot-unstuffed line\n');
  const delivered = logs.filter((l) => l.event === 'delivered');
  assert.equal(delivered.length, 1);
  assert.deepEqual(
    { session: delivered[0]?.session, mailbox: delivered[0]?.mailbox, file: delivered[0]?.file, size: delivered[0]?.size, level: delivered[0]?.level },
    { session: 'S1', mailbox: 'alice', file: name, size: Buffer.byteLength(content), level: 30 },
  );
});

test('the null reverse-path gives Return-Path: <>; a local part that is not a dot-string is quoted', async (t) => {
  const { root, delivery } = await setup(t);
  const to = addr('bob', 'example.org');
  for (const [from, expected] of [
    [null, 'Return-Path: <>\n'],
    [addr('john doe', 'example.net'), 'Return-Path: <"john doe"@example.net>\n'],
    [addr('a"b\\c', 'example.net'), 'Return-Path: <"a\\"b\\\\c"@example.net>\n'],
    [addr('jérôme', 'exemple.fr'), 'Return-Path: <jérôme@exemple.fr>\n'],
  ] as const) {
    const sink = await delivery.open(envelope(from, [to]), session);
    const reply = await sink.commit();
    const name = reply.lines[0]!.replace('Ok: delivered as ', '');
    assert.equal(await readFile(join(root, 'bob', 'new', name), 'utf8'), expected);
  }
});

test('each mailbox gets one copy, even when two recipients map to it', async (t) => {
  const { root, delivery, logs } = await setup(t);
  const rcpts = [addr('alice', 'example.org'), addr('A.Smith', 'example.org'), addr('bob', 'example.org')];
  for (const r of rcpts) await delivery.acceptRecipient(r, session);
  const sink = await delivery.open(envelope(null, rcpts), session);
  await sink.write(Buffer.from('body\n'));
  await sink.commit();
  assert.equal((await list(root, 'alice', 'new')).length, 1);
  assert.equal((await list(root, 'bob', 'new')).length, 1);
  assert.deepEqual(logs.filter((l) => l.event === 'delivered').map((l) => l.mailbox), ['alice', 'bob']);
});

test('a recipient accepted before a reload keeps its mailbox', async (t) => {
  const { root, delivery, local } = await setup(t);
  const to = addr('bob', 'example.org');
  await delivery.acceptRecipient(to, session);
  local.setMailboxes(Mailboxes.fromEntries(['example.org'], { alice: ['alice@example.org'] }));
  await assert.rejects(delivery.acceptRecipient(addr('bob', 'example.org'), session), rejectsWith(550, '5.1.1'));
  const sink = await delivery.open(envelope(null, [to]), session);
  await sink.commit();
  assert.equal((await list(root, 'bob', 'new')).length, 1);
  // A recipient never accepted and unknown to the new map cannot be delivered: 451, the sender retries.
  await assert.rejects(delivery.open(envelope(null, [addr('carol', 'example.org')]), session), rejectsWith(451, '4.3.0'));
});

test('a storage failure at commit is 451 4.3.0, logged with its code, and leaves nothing', async (t) => {
  const { root, delivery, logs } = await setup(t);
  const to = addr('alice', 'example.org');
  await (await delivery.open(envelope(null, [to]), session)).commit(); // creates the Maildir
  const before = await list(root, 'alice', 'new');
  await rm(join(root, 'alice', 'new'), { recursive: true });
  await writeFile(join(root, 'alice', 'new'), 'not a directory');
  const sink = await delivery.open(envelope(null, [to]), session);
  await sink.write(Buffer.from('body\n'));
  await assert.rejects(sink.commit(), (err: unknown) => {
    rejectsWith(451, '4.3.0')(err);
    assert.equal(((err as Error).cause as NodeJS.ErrnoException).code, 'ENOTDIR');
    return true;
  });
  await sink.abort(); // what the core does after a failed commit: must be harmless
  await sink.abort();
  assert.deepEqual(await list(root, 'alice', 'tmp'), []);
  assert.equal(before.length, 1);
  const warn = logs.find((l) => l.event === 'storage-failure');
  assert.equal(warn?.code, 'ENOTDIR');
  assert.equal(warn?.level, 40);
});

test('a storage failure at open is 451 4.3.0', async (t) => {
  const { root, delivery, logs } = await setup(t);
  await rm(root, { recursive: true, force: true });
  await writeFile(root, 'the Maildir root is a file');
  await assert.rejects(delivery.open(envelope(null, [addr('alice', 'example.org')]), session), rejectsWith(451, '4.3.0'));
  assert.ok(logs.some((l) => l.event === 'storage-failure'));
});

test('abort before commit leaves nothing', async (t) => {
  const { root, delivery } = await setup(t);
  const sink = await delivery.open(envelope(null, [addr('alice', 'example.org'), addr('bob', 'example.org')]), session);
  await sink.write(Buffer.from('partial'));
  await sink.abort();
  await sink.abort();
  for (const mb of ['alice', 'bob']) {
    assert.deepEqual(await list(root, mb, 'tmp'), []);
    assert.deepEqual(await list(root, mb, 'new'), []);
  }
});
