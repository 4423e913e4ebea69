// SIGHUP re-reads the config file itself (INTERFACE.md): inline users, local domains, limits and the log level are
// applied with the same pid and open sessions intact; a broken edit is refused and the old settings stay; settings
// that need a restart are named in the log.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { test } from 'node:test';
import { prepareFacteur, spawnFacteur, type SpawnedFacteur } from '../helpers/facteur.js';
import { readMail } from '../helpers/maildir.js';
import { SmtpDialog } from '../helpers/smtp-dialog.js';

async function greeted(port: number): Promise<SmtpDialog> {
  const d = await SmtpDialog.connect(port);
  await d.expect(220);
  await d.ask('EHLO client.example');
  return d;
}

/** RCPT's reply code for `to` in a fresh transaction on `d` (RSET after). */
async function rcptCode(d: SmtpDialog, to: string): Promise<number> {
  await d.ask('MAIL FROM:<s@client.example>');
  const r = await d.ask(`RCPT TO:<${to}>`);
  await d.ask('RSET');
  return r.code;
}

async function sighup(facteur: SpawnedFacteur, event: string): Promise<Record<string, unknown>> {
  const done = facteur.waitForLog((e) => e.event === event);
  facteur.child.kill('SIGHUP');
  return done;
}

test('SIGHUP re-reads the config file: users and domains added or removed, limits, log level; a broken file is refused', async (t) => {
  const prepared = await prepareFacteur({ users: { alice: ['alice@example.org'], carol: ['carol@example.org'], postmaster: ['postmaster@example.org'] } });
  t.after(() => prepared.cleanup());
  const original = await readFile(prepared.configPath, 'utf8');
  const facteur = await spawnFacteur(prepared.configPath);
  t.after(() => facteur.kill());
  const port = facteur.port('plain');

  const open = await greeted(port);
  t.after(() => open.close());
  assert.equal(await rcptCode(open, 'bob@example.org'), 550);
  assert.equal(await rcptCode(open, 'someone@example.net'), 550);
  // A transaction in progress for carol, who is about to be removed.
  await open.ask('MAIL FROM:<s@client.example>');
  assert.equal((await open.ask('RCPT TO:<carol@example.org>')).code, 250);

  // bob added to [inbound.users], example.net added to the domains, carol removed, max_recipients and log level changed.
  const edited = original
    .replace(/domains = \[ "example\.org" \]/, 'domains = [ "example.org", "example.net" ]')
    .replace(/carol = \[ "carol@example\.org" \]/, 'bob = [ "bob@example.org", "someone@example.net" ]')
    .replace(/\[log\]\nlevel = "info"/, '[log]\nlevel = "debug"')
    .replace(/\[inbound\]\n/, '[inbound]\nmax_recipients = 150\n');
  assert.notEqual(edited, original, 'the test could not edit the config');
  await writeFile(prepared.configPath, edited);
  const reloaded = await sighup(facteur, 'reloaded');
  assert.deepEqual(reloaded.restart_needed, []);

  // The open session, same pid: the transaction begun before the reload still delivers to carol.
  await open.command('DATA');
  await open.expect(354);
  await open.send('Subject: begun before the reload\r\n\r\nhello\r\n.\r\n');
  await open.expect(250, '2.0.0');
  assert.equal((await readMail(prepared.maildirRoot, 'carol')).length, 1);
  // New transactions see the new users and domains.
  assert.equal(await rcptCode(open, 'bob@example.org'), 250);
  assert.equal(await rcptCode(open, 'someone@example.net'), 250);
  assert.equal(await rcptCode(open, 'carol@example.org'), 550);
  assert.equal(facteur.child.exitCode, null);
  // The log level is debug now: a new session's commands are logged.
  const fresh = await greeted(port);
  t.after(() => fresh.close());
  const logged = facteur.waitForLog((e) => e.msg === 'command' && e.command === 'NOOP');
  await fresh.ask('NOOP');
  await logged;

  // A broken edit: refused with FILE: key: problem lines; the settings stay as they were.
  await writeFile(prepared.configPath, `${edited}\n[inbound.users]\ncarol = ["not an address"]\n`);
  const refused = await sighup(facteur, 'reload-refused');
  assert.ok((refused.problems as string[]).some((p) => p.startsWith(`${prepared.configPath}: `)), JSON.stringify(refused.problems));
  assert.equal(await rcptCode(fresh, 'bob@example.org'), 250);
  assert.equal(await rcptCode(fresh, 'alice@example.org'), 250);

  // A listen address changed: applied only after a restart, and the log says so.
  await writeFile(prepared.configPath, edited.replace('maildir_root = "mail"', 'maildir_root = "elsewhere"'));
  const again = await sighup(facteur, 'reloaded');
  assert.deepEqual(again.restart_needed, ['inbound.maildir_root']);

  open.close();
  fresh.close();
  facteur.child.kill('SIGTERM');
  assert.deepEqual(await facteur.exited, { code: 0, signal: null });
});
