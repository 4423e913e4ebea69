// Log rotation: after the log file is renamed, SIGHUP (or SIGUSR1) makes facteur write to a new file of that name;
// every line before the signal is in the old file, every line after it in the new one, none lost or split.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { watch } from 'node:fs';
import { readFile, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { parseLoggedListener, prepareFacteur } from '../helpers/facteur.js';
import { SmtpDialog } from '../helpers/smtp-dialog.js';

/** Every line of a JSON-lines file, parsed (a split or truncated line fails the test). */
async function lines(file: string): Promise<Record<string, unknown>[]> {
  const text = await readFile(file, 'utf8');
  assert.ok(text === '' || text.endsWith('\n'), `${file} ends in the middle of a line`);
  return text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Resolves once `file` holds a line satisfying the predicate, watching its folder for changes. */
async function waitForLine(file: string, predicate: (e: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  const watcher = watch(join(file, '..'));
  try {
    const deadline = AbortSignal.timeout(10_000);
    for (;;) {
      const found = (await lines(file).catch(() => [])).find(predicate);
      if (found !== undefined) return found;
      await Promise.race([once(watcher, 'change', { signal: deadline }), once(deadline, 'abort')]);
      if (deadline.aborted) throw new Error(`no such line in ${file}`);
    }
  } finally {
    watcher.close();
  }
}

async function session(port: number, name: string): Promise<void> {
  const d = await SmtpDialog.connect(port);
  await d.expect(220);
  await d.ask(`EHLO ${name}`);
  await d.ask('QUIT');
  d.close();
}

for (const signal of ['SIGHUP', 'SIGUSR1'] as const) {
  test(`${signal} reopens the log file after a rename: lines before in the old file, after in the new one`, async (t) => {
    const prepared = await prepareFacteur({ toml: '[log]\nfile = "facteur.log"\nlevel = "info"\n' });
    t.after(() => prepared.cleanup());
    const log = join(prepared.dir, 'facteur.log');
    const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
    const child = spawn(process.execPath, [main, 'start', '-c', prepared.configPath], { stdio: 'ignore' });
    const exited = once(child, 'exit');
    t.after(() => child.kill('SIGKILL'));

    const started = await waitForLine(log, (e) => e.event === 'started');
    const port = ((started.listeners as string[]).map(parseLoggedListener).find((l) => !l.implicitTls))!.port;
    await session(port, 'before.example');
    await waitForLine(log, (e) => e.event === 'session' && e.helo === 'before.example');

    await rename(log, `${log}.1`);
    child.kill(signal);
    await waitForLine(log, (e) => e.event === 'log-reopened');
    await session(port, 'after.example');
    child.kill('SIGTERM');
    assert.deepEqual(await exited, [0, null]);

    const old = await lines(`${log}.1`);
    const fresh = await lines(log);
    assert.ok(old.some((e) => e.helo === 'before.example'));
    assert.ok(!old.some((e) => e.helo === 'after.example' || e.event === 'log-reopened'));
    assert.ok(fresh.some((e) => e.helo === 'after.example'));
    assert.ok(fresh.some((e) => e.event === 'stopped'));
    assert.ok(!fresh.some((e) => e.event === 'started' || e.helo === 'before.example'));
    assert.equal((await stat(log)).mode & 0o777, 0o600);
  });
}
