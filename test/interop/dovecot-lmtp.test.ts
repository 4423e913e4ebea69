// facteur delivering by LMTP to a real Dovecot (Debian's dovecot-lmtpd, -imapd, -sieve): what lands is read back over
// IMAP, Sieve files by its rules, a full mailbox is refused at RCPT on its own, and a Dovecot that is gone means 4xx.
import assert from 'node:assert/strict';
import { chown, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import nodemailer from 'nodemailer';
import { dovecotMissing, startDovecot, type Dovecot } from '../helpers/dovecot.js';
import { startFacteur, type Facteur } from '../helpers/facteur.js';
import { listMail } from '../helpers/maildir.js';
import { deliverOne } from '../helpers/smtp-dialog.js';

const missing = dovecotMissing();
const USERS = {
  alice: ['alice@example.org'],
  bob: ['bob@example.org'],
  carol: ['carol@example.org'],
  postmaster: ['postmaster@example.org'],
};
const SIEVE = 'require ["fileinto"];\nif header :contains "subject" "[report]" { fileinto "Reports"; stop; }\n';

describe('LMTP to Dovecot', { skip: missing ?? false }, () => {
  let dovecot: Dovecot;
  let facteur: Facteur;
  before(async () => {
    dovecot = await startDovecot({
      users: [{ name: 'alice' }, { name: 'bob', quota: '1K' }, { name: 'carol', sieve: SIEVE }, { name: 'postmaster' }],
    });
    await fillMailbox(dovecot, 'bob', 4096); // bob is over his 1 KiB before the tests begin
    facteur = await startFacteur({ users: USERS, captureLog: true, toml: `[inbound]\ndelivery = "lmtp"\nlmtp = "unix:${dovecot.lmtp}"\n` });
  });
  after(async () => {
    await facteur?.stop();
    await dovecot?.stop();
  });

  test('a message sent to the MX is delivered by LMTP and read back over IMAP', async () => {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: facteur.port('plain'), secure: false, ignoreTLS: true });
    const info = await transport.sendMail({ from: 'sender@client.example', to: 'alice@example.org', subject: 'over LMTP', text: 'Hello Alice\n.leading dot\n' });
    assert.match(info.response, /^250 2\.0\.0 /);
    assert.deepEqual(await dovecot.subjects('alice'), ['over LMTP']);
    // Nothing was written by facteur itself: Dovecot owns the store.
    assert.deepEqual(await listMail(facteur.maildirRoot, 'alice'), []);
  });

  test('Sieve files a message into a folder; the others stay in the inbox', async () => {
    const d = await dialog(facteur);
    await d.command('MAIL FROM:<sender@client.example>');
    await d.expect(250);
    await d.command('RCPT TO:<carol@example.org>');
    await d.expect(250, '2.1.5');
    await d.command('DATA');
    await d.expect(354);
    await d.send('Subject: [report] weekly\r\n\r\nnumbers\r\n.\r\n');
    await d.expect(250, '2.0.0');
    await deliverOne(facteur.port('plain'), 'plain note', 'carol@example.org');
    assert.deepEqual(await dovecot.subjects('carol', 'Reports'), ['[report] weekly']);
    assert.deepEqual(await dovecot.subjects('carol'), ['plain note']);
  });

  test('a recipient over quota gets its own 552 5.2.2 at RCPT, the others get the message', async () => {
    const d = await dialog(facteur);
    await d.command('MAIL FROM:<sender@client.example>');
    await d.expect(250);
    await d.command('RCPT TO:<alice@example.org>');
    await d.expect(250, '2.1.5');
    await d.command('RCPT TO:<bob@example.org>');
    const refused = await d.expect(552, '5.2.2');
    assert.match(refused.lines.join(' '), /quota/i);
    await d.command('RCPT TO:<nobody@example.org>');
    await d.expect(550, '5.1.1');
    await d.command('RCPT TO:<carol@example.org>');
    await d.expect(250, '2.1.5');
    await d.command('DATA');
    await d.expect(354);
    await d.send('Subject: to three\r\n\r\nhello\r\n.\r\n');
    await d.expect(250, '2.0.0');
    assert.ok((await dovecot.subjects('alice')).includes('to three'));
    assert.ok((await dovecot.subjects('carol')).includes('to three'));
    assert.ok(!(await dovecot.subjects('bob')).includes('to three'));
  });

  test('with Dovecot stopped, RCPT gets 451 4.3.0 and nothing is stored', async () => {
    const second = await startDovecot({ users: [{ name: 'alice' }, { name: 'postmaster' }] });
    const f = await startFacteur({ users: USERS, captureLog: true, toml: `[inbound]\ndelivery = "lmtp"\nlmtp = "unix:${second.lmtp}"\n` });
    try {
      await deliverOne(f.port('plain'), 'while up', 'alice@example.org');
      await second.stop();
      const d = await dialog(f);
      await d.command('MAIL FROM:<sender@client.example>');
      await d.expect(250);
      await d.command('RCPT TO:<alice@example.org>');
      await d.expect(451, '4.3.0');
      await d.command('DATA');
      await d.expect(503);
      assert.ok(f.logs().some((l) => l.event === 'lmtp-unavailable'));
      assert.deepEqual(await listMail(f.maildirRoot, 'alice'), []);
    } finally {
      await f.stop();
      await second.stop();
    }
  });
});

const dialogs: { close(): void }[] = [];
after(() => dialogs.forEach((d) => d.close()));

async function dialog(f: Facteur) {
  const d = await f.connect('plain');
  await d.expect(220);
  await d.command('EHLO client.example');
  await d.expect(250);
  return d;
}

/** A message of `bytes` put straight into a user's Maildir/new, as if delivered earlier (Dovecot counts it at its first quota check). */
async function fillMailbox(dovecot: Dovecot, user: string, bytes: number): Promise<void> {
  const home = join(dovecot.lmtp, '..', '..', 'home', user);
  const maildir = join(home, 'Maildir');
  for (const sub of ['', 'new', 'cur', 'tmp']) {
    await mkdir(join(maildir, sub), { recursive: true });
    await chown(join(maildir, sub), dovecot.mailUid, dovecot.mailGid);
  }
  const file = join(maildir, 'new', '1700000000.M1P1.seed');
  await writeFile(file, `Subject: seed\n\n${'x'.repeat(bytes)}\n`);
  await chown(file, dovecot.mailUid, dovecot.mailGid);
}
