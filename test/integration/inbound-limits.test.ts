// The inbound server's limits: connection cap, timeouts, overlong lines, and a storage failure answered 451.
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { startFacteur } from './helpers/facteur.js';
import { listMail, mailboxPath, readMail, splitMessage } from './helpers/maildir.js';
import { sendTransaction, type SmtpDialog } from './helpers/smtp-dialog.js';

describe('inbound limits', () => {
  test('max_connections = 5: the 6th connection gets 421 4.7.0 and is closed; a slot freed is usable again', async (t) => {
    const facteur = await startFacteur({ toml: '[inbound]\nmax_connections = 5\n' });
    t.after(() => facteur.stop());
    const open: SmtpDialog[] = [];
    for (let i = 0; i < 5; i++) {
      const d = await facteur.connect();
      open.push(d);
      await d.expect(220); // accepted and counted
    }
    const sixth = await facteur.connect();
    await sixth.expect(421, '4.7.0');
    await sixth.expectClosed();

    // Closing one session frees its slot.
    await open[0]!.command('QUIT');
    await open[0]!.expect(221);
    await open[0]!.expectClosed();
    const again = await facteur.connect();
    await again.expect(220);
  });

  test('command timeout: an idle client gets 421 4.4.2 and the connection is closed', async (t) => {
    const facteur = await startFacteur({ toml: '[timeouts]\ncommand = "1s"\n' });
    t.after(() => facteur.stop());
    const d = await facteur.connect();
    await d.expect(220);
    await d.command('EHLO client.example');
    await d.expect(250);
    // Say nothing more: the server gives up first (our own wait allows 5 s).
    await d.expect(421, '4.4.2');
    await d.expectClosed();
  });

  test('data timeout: a client that stalls inside DATA gets 421 4.4.2 and nothing is delivered or left in tmp/', async (t) => {
    const facteur = await startFacteur({ toml: '[timeouts]\ndata = "1s"\n' });
    t.after(() => facteur.stop());
    const d = await facteur.connect();
    await d.expect(220);
    await d.command('EHLO client.example');
    await d.expect(250);
    await d.send('MAIL FROM:<sender@client.example>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n');
    await d.expect(250);
    await d.expect(250);
    await d.expect(354);
    await d.send('Subject: stalled\r\n\r\nhalf a mess');
    await d.expect(421, '4.4.2');
    await d.expectClosed();
    assert.deepEqual(await listMail(facteur.maildirRoot, 'alice'), []);
    assert.deepEqual(await listMail(facteur.maildirRoot, 'alice', 'tmp'), []);
  });

  test('a 100 KB command line gets one 500 5.5.2 and the session goes on', async (t) => {
    const facteur = await startFacteur();
    t.after(() => facteur.stop());
    const d = await facteur.connect();
    await d.expect(220);
    await d.command('EHLO client.example');
    await d.expect(250);
    // In several writes, the way a real flood arrives; "RSET" inside it must not run either.
    for (let i = 0; i < 10; i++) await d.send(`${'x'.repeat(10_000)}\r`);
    await d.send('RSET\r\n');
    await d.expect(500, '5.5.2');
    await d.command('MAIL FROM:<sender@client.example>');
    await d.expect(250, '2.1.0');
  });

  test('storage failure (new/ is not a directory): 451 4.3.0, nothing left in tmp/, and delivery works once repaired', async (t) => {
    const facteur = await startFacteur();
    t.after(() => facteur.stop());
    // A regular file where new/ should be: rename(2) fails even for root.
    await mkdir(mailboxPath(facteur.maildirRoot, 'alice', 'tmp'), { recursive: true });
    await mkdir(mailboxPath(facteur.maildirRoot, 'alice', 'cur'), { recursive: true });
    await writeFile(mailboxPath(facteur.maildirRoot, 'alice', 'new'), 'not a directory\n');

    const d = await facteur.connect();
    await d.expect(220);
    await d.command('EHLO client.example');
    await d.expect(250);
    const failed = await sendTransaction(d, { from: 'sender@client.example', to: ['alice@example.org'], text: 'Subject: lost?\r\n\r\nbody\r\n' });
    assert.equal(failed.code, 451, failed.lines.join(' '));
    assert.equal(failed.enhanced, '4.3.0');
    assert.deepEqual(await listMail(facteur.maildirRoot, 'alice', 'tmp'), [], 'nothing left in tmp/');

    // The same session, once the operator has repaired the mailbox: the client's retry succeeds.
    await rm(mailboxPath(facteur.maildirRoot, 'alice', 'new'));
    await mkdir(mailboxPath(facteur.maildirRoot, 'alice', 'new'));
    const retried = await sendTransaction(d, { from: 'sender@client.example', to: ['alice@example.org'], text: 'Subject: retry\r\n\r\nbody\r\n' });
    assert.equal(retried.code, 250, retried.lines.join(' '));
    const [file, ...others] = await readMail(facteur.maildirRoot, 'alice');
    assert.equal(others.length, 0);
    assert.equal(splitMessage(file!.content).body, 'body\n');
  });

  test('a file that cannot be created in tmp/ (tmp/ is not a directory): 354, then 451 4.3.0 after the text; nothing delivered', async (t) => {
    const facteur = await startFacteur();
    t.after(() => facteur.stop());
    // The file is created while the client sends the text, so its failure comes after the text, not before 354.
    await mkdir(mailboxPath(facteur.maildirRoot, 'alice', 'new'), { recursive: true });
    await mkdir(mailboxPath(facteur.maildirRoot, 'alice', 'cur'), { recursive: true });
    await writeFile(mailboxPath(facteur.maildirRoot, 'alice', 'tmp'), 'not a directory\n');

    const d = await facteur.connect();
    await d.expect(220);
    await d.command('EHLO client.example');
    await d.expect(250);
    const failed = await sendTransaction(d, { from: 'sender@client.example', to: ['alice@example.org'], text: 'Subject: lost?\r\n\r\nbody\r\n' });
    assert.equal(failed.code, 451, failed.lines.join(' '));
    assert.equal(failed.enhanced, '4.3.0');
    assert.deepEqual(await listMail(facteur.maildirRoot, 'alice', 'new'), []);

    await rm(mailboxPath(facteur.maildirRoot, 'alice', 'tmp'));
    await mkdir(mailboxPath(facteur.maildirRoot, 'alice', 'tmp'));
    const retried = await sendTransaction(d, { from: 'sender@client.example', to: ['alice@example.org'], text: 'Subject: retry\r\n\r\nbody\r\n' });
    assert.equal(retried.code, 250, retried.lines.join(' '));
    assert.equal((await readMail(facteur.maildirRoot, 'alice')).length, 1);
  });

  test(
    'a message with more than 100 Received headers is refused as a mail loop (554 5.4.6)',

    async (t) => {
      const facteur = await startFacteur();
      t.after(() => facteur.stop());
      const d = await facteur.connect();
      await d.expect(220);
      await d.command('EHLO client.example');
      await d.expect(250);
      const hops = 'Received: from relay.example by relay.example; Mon, 1 Jan 2024 00:00:00 +0000\r\n'.repeat(101);
      const final = await sendTransaction(d, { from: 'sender@client.example', to: ['alice@example.org'], text: `${hops}Subject: loop\r\n\r\nround and round\r\n` });
      assert.equal(final.code, 554, final.lines.join(' '));
      assert.equal(final.enhanced, '5.4.6');
      assert.deepEqual(await listMail(facteur.maildirRoot, 'alice'), []);
    },
  );
});
