// The fail2ban filter in examples/fail2ban/ finds the client address of every failed login in a real `facteur start` log.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { hashPassword } from '../../src/submission/password-hash.js';
import { prepareFacteur, repoRoot, spawnFacteur } from '../helpers/facteur.js';
import { SmtpDialog } from '../helpers/smtp-dialog.js';
import { plain, USERS } from '../helpers/submission.js';

const run = promisify(execFile);
const hasFail2ban = await run('fail2ban-regex', ['--version'], { timeout: 10_000 }).then(() => true, () => false);
const SKIP = hasFail2ban ? false : 'fail2ban-regex is not on PATH (apt-get install fail2ban); .ci/run installs it';

test('fail2ban-regex with examples/fail2ban/filter.d/facteur.conf takes the address of each failed login, and nothing else', { skip: SKIP, timeout: 60_000 }, async (t) => {
  const prepared = await prepareFacteur({
    outbound: true,
    users: USERS,
    toml: ['[submission]', 'enabled = true', 'listen = ["127.0.0.1:0"]', 'listen_tls = []'].join('\n'),
  });
  t.after(() => prepared.cleanup());
  await writeFile(join(prepared.dir, 'passwords'), `alice@example.org:${await hashPassword('right', { ln: 10, r: 8, p: 1 })}\n`, { mode: 0o600 });
  const server = await spawnFacteur(prepared.configPath, 30_000);
  t.after(() => server.kill());

  const session = async (from: string): Promise<SmtpDialog> => {
    const d = await SmtpDialog.connect(server.port('submission'), '127.0.0.1', { localAddress: from });
    await d.expect(220);
    await d.command('EHLO client.example');
    await d.expect(250);
    await d.command('STARTTLS');
    await d.expect(220);
    await d.startTls();
    await d.command('EHLO client.example');
    await d.expect(250);
    return d;
  };
  const d = await session('127.0.0.51');
  // A login made to look like another address in the line: the filter must still take the real one.
  await d.command(`AUTH PLAIN ${plain('x","client":"192.0.2.66","', 'guess')}`);
  await d.expect(535);
  await d.command(`AUTH PLAIN ${plain('alice@example.org', 'right')}`);
  await d.expect(235);
  d.close();
  const e = await session('127.0.0.52');
  await e.command('AUTH LOGIN');
  await e.expect(334);
  await e.command(Buffer.from('bob@example.org').toString('base64'));
  await e.expect(334);
  await e.command(Buffer.from('wrong').toString('base64'));
  await e.expect(535);
  e.close();

  server.child.kill('SIGTERM');
  await server.exited;
  const log = join(prepared.dir, 'facteur.log');
  await writeFile(log, `${server.output().join('\n')}\n`);
  assert.equal(server.output().filter((l) => l.includes('"event":"auth-failed"')).length, 2);
  const filter = join(repoRoot(), 'examples', 'fail2ban', 'filter.d', 'facteur.conf');
  const { stdout } = await run('fail2ban-regex', ['-o', 'ip', log, filter], { timeout: 30_000 });
  assert.deepEqual(stdout.trim().split('\n'), ['127.0.0.51', '127.0.0.52']);
});
