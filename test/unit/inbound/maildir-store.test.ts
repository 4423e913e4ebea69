// The Maildir store's quotas (RCPT with SIZE, end of DATA, the grace of a message shared with others) and group modes.
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import type { TransactionInfo } from '../../../src/delivery.js';
import { InboundDelivery } from '../../../src/inbound/inbound-delivery.js';
import { MaildirDelivery } from '../../../src/inbound/maildir-delivery.js';
import { Mailboxes } from '../../../src/inbound/mailboxes.js';
import type { Address } from '../../../src/mail/address.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { SmtpError } from '../../../src/smtp/smtp-error.js';
import { list, session } from '../../helpers/inbound-fixtures.js';
import { tempDir } from '../../helpers/temp-dir.js';

const users = { alice: ['alice@example.org'], bob: ['bob@example.org'] };
const addr = (local: string): Address => ({ local, domain: 'example.org' });

async function setup(t: TestContext, opts: { quotas?: Record<string, number>; group?: number } = {}) {
  const root = join(await tempDir(t), 'mail');
  const quotas = opts.quotas ?? {};
  const local = new MaildirDelivery({
    root,
    hostname: 'mx1',
    pid: 1,
    now: () => new Date(),
    logger: silentLogger(),
    mailboxes: Mailboxes.fromEntries(['example.org'], users),
    quotaOf: (m) => quotas[m] ?? 0,
    ...(opts.group === undefined ? {} : { group: opts.group }),
  });
  t.after(() => local.close());
  return { root, delivery: new InboundDelivery(local, silentLogger()) };
}

async function send(delivery: InboundDelivery, tx: TransactionInfo, to: Address[], text: string) {
  for (const a of to) await delivery.acceptRecipient(a, session, tx);
  const sink = await delivery.open({ reversePath: tx.reversePath, recipients: to, eightBit: false, smtputf8: false, declaredSize: tx.declaredSize }, session);
  try {
    await sink.write(Buffer.from(text));
    return await sink.commit();
  } catch (err) {
    await sink.abort();
    throw err;
  }
}

const full = (err: unknown) => err instanceof SmtpError && err.reply.code === 552 && err.reply.enhanced === '5.2.2';
const tx = (declaredSize: number | null = null): TransactionInfo => ({ reversePath: null, declaredSize });

test('quota: 552 5.2.2 at RCPT for a declared SIZE that does not fit, and at the end of DATA; others unaffected', async (t) => {
  const { root, delivery } = await setup(t, { quotas: { alice: 1000 } });
  await assert.rejects(delivery.acceptRecipient(addr('alice'), session, tx(1001)), full);
  await delivery.acceptRecipient(addr('bob'), session, tx(1_000_000));
  assert.equal((await send(delivery, tx(), [addr('alice')], 'x'.repeat(500))).code, 250);
  await assert.rejects(send(delivery, tx(), [addr('alice')], 'y'.repeat(600)), full);
  assert.deepEqual(await list(root, 'alice', 'tmp'), []);
  assert.equal((await list(root, 'alice', 'new')).length, 1);
  // The file's octets (Return-Path included) are what maildirsize counts.
  const [name] = await list(root, 'alice', 'new');
  const size = (await stat(join(root, 'alice', 'new', name as string))).size;
  assert.equal(await readFile(join(root, 'alice', 'maildirsize'), 'utf8'), `1000S\n0 0\n${size} 1\n`);
  // Now nearly full: even without SIZE, RCPT is refused once no octet is left.
  await send(delivery, tx(), [addr('alice')], 'z'.repeat(1000 - size - 'Return-Path: <>\n'.length));
  await assert.rejects(delivery.acceptRecipient(addr('alice'), session, tx()), full);
});

test('quota: a message that still fits one recipient goes to all (the full one over its quota: grace)', async (t) => {
  const { root, delivery } = await setup(t, { quotas: { alice: 300 } });
  assert.equal((await send(delivery, tx(), [addr('alice'), addr('bob')], 'x'.repeat(400))).code, 250);
  assert.equal((await list(root, 'alice', 'new')).length, 1);
  assert.equal((await list(root, 'bob', 'new')).length, 1);
});

test('maildir group: folders 2750 and files 0640 of that group', async (t) => {
  const gid = process.getgid?.() ?? 0;
  const { root, delivery } = await setup(t, { group: gid });
  await send(delivery, tx(), [addr('alice')], 'hello\n');
  for (const dir of ['', 'new', 'cur', 'tmp']) {
    const s = await stat(join(root, 'alice', dir));
    assert.equal(s.mode & 0o7777, 0o2750, `alice/${dir}`);
    assert.equal(s.gid, gid);
  }
  assert.equal((await stat(root)).mode & 0o7777, 0o2750);
  const [name] = await list(root, 'alice', 'new');
  assert.equal((await stat(join(root, 'alice', 'new', name as string))).mode & 0o777, 0o640);
});
