// The production install as the README gives it, as far as it goes without systemd: `npm pack`, `npm install -g`
// of the tarball, then the installed `facteur` checks a config, starts, and delivers a message.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { repoRoot } from '../helpers/facteur.js';
import { listMail } from '../helpers/maildir.js';
import { deliverOne } from '../helpers/smtp-dialog.js';

const run = promisify(execFile);

test('npm pack + npm install -g gives a facteur command that checks a config, starts and delivers', { timeout: 180_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'facteur-install-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  // --ignore-scripts: packing must not rebuild dist/ under the running tests (the build is already there).
  await run('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], { cwd: repoRoot() });
  const tarball = (await readdir(dir)).find((f) => f.endsWith('.tgz'));
  assert.ok(tarball !== undefined, 'npm pack made no tarball');
  const prefix = join(dir, 'prefix');
  await run('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', join(dir, tarball)], { timeout: 150_000 });
  const facteur = join(prefix, 'bin', 'facteur');

  const config = join(dir, 'facteur.toml');
  await writeFile(
    config,
    [
      'hostname = "mx.example.org"',
      'data_dir = "data"',
      '[inbound]',
      'listen = ["127.0.0.1:0"]',
      'listen_tls = []',
      'domains = ["example.org"]',
      '[inbound.users]',
      'alice = ["alice@example.org", "postmaster@example.org"]',
      '[outbound]',
      'enabled = false',
      '',
    ].join('\n'),
  );
  const checked = await run(facteur, ['check-config', '-c', config]);
  assert.match(checked.stdout, /^hostname = "mx\.example\.org"$/m);

  const child = spawn(facteur, ['start', '-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  const exited = once(child, 'exit');
  let port = 0;
  for await (const line of createInterface({ input: child.stderr! })) {
    const m = /"listeners":\["inbound 127\.0\.0\.1:(\d+)"\]/.exec(line);
    if (m !== null) {
      port = Number(m[1]);
      break;
    }
  }
  assert.ok(port > 0, 'no "started" line');
  await deliverOne(port, 'installed');
  assert.equal((await listMail(join(dir, 'data', 'mail'), 'alice')).length, 1);
  child.kill('SIGTERM');
  assert.deepEqual(await exited, [0, null]);
});
