// `facteur passwd` round trip with a real `facteur start`: set, log in, change, SIGHUP, the old password refused; no plain text on disk or in the log.
import assert from 'node:assert/strict';
import { appendFile, chmod, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { prepareFacteur, runCli, spawnFacteur } from '../helpers/facteur.js';
import { SmtpDialog } from '../helpers/smtp-dialog.js';
import { plain, USERS } from '../helpers/submission.js';

const FIRST = 'first s3cret, long enough';
const SECOND = 'second s3cret, even longer';

/** Every file under `dir`, recursively. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(path)));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

/** Logs in on the implicit TLS port with AUTH PLAIN; the reply code. */
async function login(port: number, user: string, password: string): Promise<number> {
  const d = await SmtpDialog.connect(port, '127.0.0.1', { tls: true });
  try {
    await d.expect(220);
    await d.command('EHLO client.example');
    await d.expect(250);
    await d.command(`AUTH PLAIN ${plain(user, password)}`);
    return (await d.reply()).code;
  } finally {
    d.close();
  }
}

test('facteur passwd: set, change, SIGHUP; mode 0600; no plain text anywhere in the folder or the log', { timeout: 60_000 }, async (t) => {
  const prepared = await prepareFacteur({
    outbound: true,
    users: USERS,
    // Debug logs every command line: the AUTH line must still not show a secret.
    toml: ['[log]', 'level = "debug"', '[submission]', 'enabled = true', 'listen = ["127.0.0.1:0"]', 'listen_tls = ["127.0.0.1:0"]'].join('\n'),
  });
  t.after(() => prepared.cleanup());
  const passwords = join(prepared.dir, 'passwords');
  const passwd = (address: string, input: string) => runCli(['passwd', '-c', prepared.configPath, address], 30_000, input);

  const set = await passwd('alice@example.org', `${FIRST}\n`);
  assert.equal(set.code, 0, set.stderr);
  assert.match(set.stdout, new RegExp(`password set for alice@example\\.org in ${passwords}`));
  assert.equal((await stat(passwords)).mode & 0o777, 0o600);
  assert.match(await readFile(passwords, 'utf8'), /^alice@example\.org:\$scrypt\$ln=15,r=8,p=1\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+\n$/);

  // Refusals: an address of no mailbox, an empty password. Neither touches the file.
  const before = await readFile(passwords, 'utf8');
  const unknown = await passwd('nobody@example.org', 'x\n');
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /nobody@example\.org is not an address of any mailbox/);
  const empty = await passwd('bob@example.org', '\n');
  assert.equal(empty.code, 2);
  assert.match(empty.stderr, /empty password/);
  assert.equal(await readFile(passwords, 'utf8'), before);

  const server = await spawnFacteur(prepared.configPath, 30_000);
  t.after(() => server.kill());
  const port = server.port('submission-tls');
  assert.equal(await login(port, 'alice@example.org', FIRST), 235);
  assert.equal(await login(port, 'Alice@Example.ORG', FIRST), 235, 'the login is not case-sensitive');

  const change = await passwd('alice@example.org', `${SECOND}\r\n`);
  assert.equal(change.code, 0, change.stderr);
  assert.equal((await stat(passwords)).mode & 0o777, 0o600);
  assert.equal((await readFile(passwords, 'utf8')).split('\n').filter(Boolean).length, 1, 'the line is replaced');
  // The running server reads the file on SIGHUP only.
  assert.equal(await login(port, 'alice@example.org', FIRST), 235);

  const reloaded = server.waitForLog((e) => e.event === 'reloaded');
  server.child.kill('SIGHUP');
  await reloaded;
  assert.equal(await login(port, 'alice@example.org', FIRST), 535);
  assert.equal(await login(port, 'alice@example.org', SECOND), 235);

  server.child.kill('SIGTERM');
  assert.equal((await server.exited).code, 0);

  // Neither password, nor the AUTH PLAIN text that carries it, is anywhere: folder (config, passwords, data) or log.
  const secrets = [FIRST, SECOND, plain('alice@example.org', FIRST), plain('alice@example.org', SECOND)];
  const log = server.output().join('\n');
  assert.match(log, /"command":"AUTH \*\*\*"/, 'the log does have the commands (debug level)');
  for (const secret of secrets) assert.ok(!log.includes(secret), `the log holds ${secret}`);
  const files = await filesUnder(prepared.dir);
  assert.ok(files.includes(passwords), files.join('\n'));
  for (const file of files) {
    const content = await readFile(file);
    for (const secret of secrets) assert.equal(content.includes(secret), false, `${file} holds ${secret}`);
  }
});

test('check-config reads the passwords file: none yet is said in the settings, a bad line exits 2, a login of no mailbox and a readable file are warnings', async (t) => {
  const prepared = await prepareFacteur({
    outbound: true,
    users: USERS,
    toml: ['[submission]', 'enabled = true', 'listen = ["127.0.0.1:0"]'].join('\n'),
  });
  t.after(() => prepared.cleanup());
  const passwords = join(prepared.dir, 'passwords');
  const check = () => runCli(['check-config', '-c', prepared.configPath]);

  const missing = await check();
  assert.equal(missing.code, 0, missing.stderr);
  assert.equal(missing.stderr, '');
  assert.match(missing.stdout, /^\[submission\]\nenabled = true\n/m);
  assert.match(missing.stdout, new RegExp(`^passwords_file = "${passwords}"  # no such file yet: \`facteur passwd ADDRESS\` makes it$`, 'm'));

  await writeFile(passwords, 'alice@example.org:plain-text\n', { mode: 0o600 });
  const bad = await check();
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, new RegExp(`^${prepared.configPath}: submission\\.passwords_file: ${passwords}:1: alice@example\\.org: not a scrypt hash`));

  // passwd will not rewrite a file it cannot read back: the other lines would be lost.
  const refused = await passwd(prepared.configPath, 'alice@example.org', 'pw\n');
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /not a scrypt hash/);
  await writeFile(passwords, '');
  assert.equal((await passwd(prepared.configPath, 'alice@example.org', 'pw\n')).code, 0);
  await appendFile(passwords, 'gone@example.org:$scrypt$ln=4,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n');
  await chmod(passwords, 0o640);
  const warned = await check();
  assert.equal(warned.code, 0, warned.stderr);
  assert.deepEqual(warned.stderr.trimEnd().split('\n'), [
    `${prepared.configPath}: submission.passwords_file: warning: ${passwords} can be read by other users (mode 640): chmod 600 it`,
    `${prepared.configPath}: submission.passwords_file: warning: gone@example.org has a password but is not an address of any mailbox: it cannot log in`,
  ]);
});

function passwd(config: string, address: string, input: string) {
  return runCli(['passwd', '-c', config, address], 30_000, input);
}
