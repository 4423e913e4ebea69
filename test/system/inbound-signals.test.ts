// Signals to a real `facteur start`: SIGTERM lets a transaction in flight finish and exits 0; SIGHUP reloads users.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { prepareFacteur, spawnFacteur } from '../helpers/facteur.js';
import { readMail, splitMessage } from '../helpers/maildir.js';
import { SmtpDialog } from '../helpers/smtp-dialog.js';

/** Resolves with the error code of a connection attempt ('connected' if it was accepted). */
function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

async function ehlo(port: number): Promise<SmtpDialog> {
  const d = await SmtpDialog.connect(port, '127.0.0.1', { timeoutMs: 5000 });
  await d.expect(220);
  await d.command('EHLO client.example');
  await d.expect(250);
  return d;
}

test(
  'SIGTERM: idle sessions get 421, a transaction in flight finishes with 250, new connections are refused, exit 0',
  async (t) => {
    const prepared = await prepareFacteur();
    t.after(() => prepared.cleanup());
    const facteur = await spawnFacteur(prepared.configPath);
    t.after(() => facteur.kill());
    const port = facteur.port('plain');

    const idle = await ehlo(port);
    t.after(() => idle.close());
    const busy = await ehlo(port);
    t.after(() => busy.close());
    await busy.send('MAIL FROM:<sender@client.example>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n');
    await busy.expect(250);
    await busy.expect(250);
    await busy.expect(354);
    await busy.send('Subject: in flight\r\n\r\nstarted before SIGTERM\r\n');

    facteur.child.kill('SIGTERM');
    // The idle session is told at once: that is our sign the server has stopped accepting.
    await idle.expect(421, '4.3.2');
    await idle.expectClosed();
    assert.equal(await tryConnect(port), 'ECONNREFUSED', 'no new connection after SIGTERM');

    // The transaction in flight may finish within the grace period.
    await busy.send('finished after SIGTERM\r\n.\r\n');
    await busy.expect(250, '2.0.0');
    await busy.expect(421, '4.3.2'); // then, idle, it is sent away too
    await busy.expectClosed();

    assert.deepEqual(await facteur.exited, { code: 0, signal: null });
    const [file, ...others] = await readMail(prepared.maildirRoot, 'alice');
    assert.equal(others.length, 0);
    assert.equal(splitMessage(file!.content).body, 'started before SIGTERM\nfinished after SIGTERM\n');
  },
);

test('SIGHUP reloads the users file without dropping an open connection', async (t) => {
  const prepared = await prepareFacteur({ users: { postmaster: ['postmaster@example.org'] }, toml: '[inbound]\nusers_file = "users"\n' });
  t.after(() => prepared.cleanup());
  const usersFile = join(prepared.dir, 'users');
  await writeFile(usersFile, '# carte format\nalice : alice@example.org\n');
  const facteur = await spawnFacteur(prepared.configPath);
  t.after(() => facteur.kill());

  const d = await ehlo(facteur.port('plain'));
  t.after(() => d.close());
  await d.command('MAIL FROM:<sender@client.example>');
  await d.expect(250);
  await d.command('RCPT TO:<bob@example.org>');
  await d.expect(550, '5.1.1');
  await d.command('RCPT TO:<alice@example.org>');
  await d.expect(250);

  await writeFile(usersFile, '# carte format\nalice : alice@example.org\nbob : bob@example.org, robert@example.org\n');
  const reloaded = facteur.waitForLog((e) => e.event === 'reloaded');
  facteur.child.kill('SIGHUP');
  await reloaded;

  // Same connection, same transaction: the recipient accepted before the reload stays, the new user is known.
  await d.command('RCPT TO:<robert@example.org>');
  await d.expect(250, '2.1.5');
  await d.command('DATA');
  await d.expect(354);
  await d.send('Subject: after reload\r\n\r\nhello\r\n.\r\n');
  await d.expect(250, '2.0.0');
  assert.equal((await readMail(prepared.maildirRoot, 'bob')).length, 1);
  assert.equal((await readMail(prepared.maildirRoot, 'alice')).length, 1);

  await d.command('QUIT');
  await d.expect(221);
  facteur.child.kill('SIGTERM');
  assert.deepEqual(await facteur.exited, { code: 0, signal: null });
});
