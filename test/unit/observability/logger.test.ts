// The log file holds client and envelope addresses: it is created private, and an existing one is made private.
// A log that cannot be written (a full disk, a broken stderr pipe) neither hangs nor ends the process.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createLogger, setLogLevel } from '../../../src/observability/logger.js';

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'facteur-log-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('a new log file is created with mode 0600', async (t) => {
  const file = join(await tempDir(t), 'logs', 'facteur.log');
  const logger = createLogger({ level: 'info', file });
  logger.warn({ event: 'test' }, 'written at once');
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  assert.match(await readFile(file, 'utf8'), /"event":"test"/);
});

test('an existing world-readable log file is narrowed to 0600 and appended to', async (t) => {
  const file = join(await tempDir(t), 'facteur.log');
  await writeFile(file, 'older line\n', { mode: 0o644 });
  const logger = createLogger({ level: 'info', file });
  logger.error({ event: 'test' }, 'written at once');
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  assert.match(await readFile(file, 'utf8'), /^older line\n.*"event":"test"/s);
});

const LOGGER_MODULE = fileURLToPath(new URL('../../../src/observability/logger.js', import.meta.url));

/**
 * Runs `body` in a child process that imports createLogger and reopenLog; resolves with its exit and output. A child
 * still running after `guardMs` is killed: that is the hang being tested for, reported as a failure, not a timing.
 */
function runChild(body: string, opts: { closeStderr?: boolean } = {}, guardMs = 60_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const code = `import { createLogger, reopenLog } from ${JSON.stringify(LOGGER_MODULE)};\n${body}`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  if (opts.closeStderr === true) child.stderr.destroy(); // the reader goes away: the child's writes to fd 2 get EPIPE
  else child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdin.end('go\n'); // the child starts logging once it reads this, after our end of its stderr is closed
  const guard = setTimeout(() => child.kill('SIGKILL'), guardMs);
  return new Promise((resolve) => {
    child.once('exit', (exitCode) => {
      clearTimeout(guard);
      resolve({ code: exitCode, stdout, stderr });
    });
  });
}

/** Logs at every level, reopens, then says it is alive: each step must return. */
const LOG_EVERYTHING = `
process.stdin.once('data', () => {
  for (let i = 0; i < 200; i++) logger.info({ event: 'filler', i }, 'x'.repeat(100));
  logger.warn({ event: 'warned' }, 'a warning is written at once');
  logger.error({ event: 'failed' }, 'so is an error');
  reopenLog(logger);
  logger.warn({ event: 'after-reopen' }, 'still logging');
  // A turn of the event loop later: an 'error' emitted from a tick (a broken process.stderr) has had its chance.
  setImmediate(() => {
    process.stdout.write('alive\\n');
    process.exit(0);
  });
});
`;

test('a full disk (/dev/full: ENOSPC on every write) neither hangs nor ends the process; stderr says why', { skip: !existsSync('/dev/full') && 'no /dev/full on this system' }, async () => {
  const r = await runChild(`const logger = createLogger({ level: 'info', file: '/dev/full' });\n${LOG_EVERYTHING}`);
  assert.equal(r.code, 0, `exit code; stderr:\n${r.stderr}`);
  assert.equal(r.stdout, 'alive\n');
  assert.match(r.stderr, /facteur: log file \/dev\/full: ENOSPC/);
});

test('a broken stderr pipe (logging to stderr, its reader gone: EPIPE) neither hangs nor ends the process', async () => {
  const r = await runChild(`const logger = createLogger({ level: 'info', file: null });\n${LOG_EVERYTHING}`, { closeStderr: true });
  assert.equal(r.code, 0);
  assert.equal(r.stdout, 'alive\n');
});

test('a new level reaches every child still in use, however many were made before', async (t) => {
  const file = join(await tempDir(t), 'facteur.log');
  const logger = createLogger({ level: 'info', file });
  // Past the sweep thresholds (1024, then doubling), with some children kept alive across them.
  const kept = [];
  for (let i = 0; i < 5000; i++) {
    const child = logger.child({ session: String(i) });
    if (i % 997 === 0) kept.push(child);
  }
  setLogLevel(logger, 'warn');
  assert.equal(logger.level, 'warn');
  for (const child of kept) assert.equal(child.level, 'warn');
  assert.equal(logger.child({ session: 'new' }).level, 'warn');
});
