// LocalCourier over a real MaildirDelivery: outcomes per recipient, one copy per mailbox, failures.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { MaildirDelivery } from '../../../src/inbound/maildir-delivery.js';
import { Mailboxes } from '../../../src/inbound/mailboxes.js';
import { silentLogger } from '../../../src/observability/logger.js';
import type { TransferRequest } from '../../../src/outbound/courier.js';
import { LocalCourier } from '../../../src/outbound/local-courier.js';
import { list } from '../../helpers/inbound-fixtures.js';
import { addr, SAMPLE_BODY } from '../../helpers/queue-fixtures.js';
import { tempDir } from '../../helpers/temp-dir.js';

async function setup(t: TestContext) {
  const root = join(await tempDir(t), 'mail');
  const mailboxes = Mailboxes.fromEntries(['here.test'], { alice: ['alice@here.test', 'a.smith@here.test'], bob: ['bob@here.test'] });
  const local = new MaildirDelivery({ root, hostname: 'relay.test', pid: 77, now: () => new Date(1764000000000), logger: silentLogger(), mailboxes });
  t.after(() => local.close());
  return { root, courier: new LocalCourier(local, 'relay.test') };
}

function request(to: readonly string[]): TransferRequest {
  return {
    id: 'q1',
    domain: 'here.test',
    reversePath: addr('sender@origin.test'),
    recipients: to.map(addr),
    openBody: () => [Buffer.from(SAMPLE_BODY)],
    size: Buffer.byteLength(SAMPLE_BODY),
    eightBit: false,
    smtputf8: false,
  };
}

test('known recipients are delivered, one copy per mailbox; unknown ones fail for good; outcomes in request order', async (t) => {
  const { root, courier } = await setup(t);
  const result = await courier.deliver(request(['nobody@here.test', 'alice@here.test', 'A.Smith@here.test', 'bob@here.test']));
  assert.deepEqual(result.outcomes.map((o) => [o.recipient.local, o.status, o.remoteMta]), [
    ['nobody', 'permanent', 'relay.test'],
    ['alice', 'sent', 'relay.test'],
    ['A.Smith', 'sent', 'relay.test'],
    ['bob', 'sent', 'relay.test'],
  ]);
  assert.match(result.outcomes[0]?.diagnostic ?? '', /^550 5\.1\.1 /);
  assert.match(result.outcomes[1]?.diagnostic ?? '', /^250 2\.0\.0 Ok: delivered as /);
  assert.deepEqual(result.relay, { host: 'relay.test', ip: 'local', tls: null });
  for (const mailbox of ['alice', 'bob']) {
    const names = await list(root, mailbox, 'new');
    assert.equal(names.length, 1, mailbox);
    assert.equal(await readFile(join(root, mailbox, 'new', names[0] ?? ''), 'utf8'), `Return-Path: <sender@origin.test>\n${SAMPLE_BODY}`);
  }
});

test('a storage failure is transient for every accepted recipient, and leaves nothing', async (t) => {
  const { root, courier } = await setup(t);
  await writeFile(root, 'the Maildir root is a file');
  const result = await courier.deliver(request(['alice@here.test', 'nobody@here.test']));
  assert.deepEqual(result.outcomes.map((o) => [o.recipient.local, o.status, o.diagnostic.slice(0, 9)]), [
    ['alice', 'transient', '451 4.3.0'],
    ['nobody', 'permanent', '550 5.1.1'],
  ]);
  assert.equal(result.relay, null);
});
