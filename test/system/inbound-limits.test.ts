// The inbound server's limits: connection cap, timeouts, overlong lines, and a storage failure answered 451.
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { startFacteur } from '../helpers/facteur.js';
import { listMail, mailboxPath, readMail, splitMessage } from '../helpers/maildir.js';
import { sendTransaction, type SmtpDialog } from '../helpers/smtp-dialog.js';

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

  // new/ replaced by a file: the rename fails (even for root). tmp/ replaced by a file: the creation fails, which
  // happens while the client sends the text, so the 451 comes after the text, not before 354.
  for (const [broken, step] of [['new', 'the rename'], ['tmp', 'the file\'s creation']] as const) {
    test(`storage failure (${broken}/ is not a directory, ${step} fails): 354, 451 4.3.0, nothing left, and delivery works once repaired`, async (t) => {
      const facteur = await startFacteur();
      t.after(() => facteur.stop());
      await mkdir(join(facteur.maildirRoot, 'alice'), { recursive: true });
      for (const sub of ['tmp', 'new', 'cur'] as const) {
        if (sub === broken) await writeFile(mailboxPath(facteur.maildirRoot, 'alice', sub), 'not a directory\n');
        else await mkdir(mailboxPath(facteur.maildirRoot, 'alice', sub), { recursive: true });
      }

      const d = await facteur.connect();
      await d.expect(220);
      await d.command('EHLO client.example');
      await d.expect(250);
      const failed = await sendTransaction(d, { from: 'sender@client.example', to: ['alice@example.org'], text: 'Subject: lost?\r\n\r\nbody\r\n' });
      assert.equal(failed.code, 451, failed.lines.join(' '));
      assert.equal(failed.enhanced, '4.3.0');
      const intact = broken === 'new' ? 'tmp' : 'new';
      assert.deepEqual(await listMail(facteur.maildirRoot, 'alice', intact), [], `nothing left in ${intact}/`);

      // The same session, once the operator has repaired the mailbox: the client's retry succeeds.
      await rm(mailboxPath(facteur.maildirRoot, 'alice', broken));
      await mkdir(mailboxPath(facteur.maildirRoot, 'alice', broken));
      const retried = await sendTransaction(d, { from: 'sender@client.example', to: ['alice@example.org'], text: 'Subject: retry\r\n\r\nbody\r\n' });
      assert.equal(retried.code, 250, retried.lines.join(' '));
      const [file, ...others] = await readMail(facteur.maildirRoot, 'alice');
      assert.equal(others.length, 0);
      assert.equal(splitMessage(file!.content).body, 'body\n');
    });
  }

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
