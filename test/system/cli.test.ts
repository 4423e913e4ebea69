// The `facteur` command as users run it: check-config, usage errors, --help, and start/stop/reload of a real process.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config/load-config.js';

// This file runs from <build>/test/system/ (.build/x/ or dist/); main.js is in <build>/src/cli/.
const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const REPO = repoRoot();
const DEV_TOML = join(REPO, 'examples', 'dev.toml');
const T = { timeout: 20_000 };

let dir: string;
let count = 0;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'facteur-cli-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function repoRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(d, 'package.json'))) {
    const up = dirname(d);
    if (up === d) throw new Error('package.json not found');
    d = up;
  }
  return d;
}

async function writeConfig(toml: string): Promise<string> {
  const sub = join(dir, `c${++count}`);
  await mkdir(sub);
  const file = join(sub, 'facteur.toml');
  await writeFile(file, toml);
  return file;
}

async function run(args: string[], cwd = dir): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [MAIN, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr };
}

/** A config with every listener on 127.0.0.1, port 0 unless given. */
function smallConfig(inboundListen = '127.0.0.1:0'): string {
  return [
    'hostname = "mx.test"',
    '[inbound]',
    `listen = ["${inboundListen}"]`,
    'listen_tls = ["127.0.0.1:0"]',
    'domains = ["example.org"]',
    '[inbound.users]',
    'postmaster = ["postmaster@example.org"]',
    '[outbound]',
    'listen = ["127.0.0.1:0"]',
  ].join('\n');
}

test('check-config on examples/dev.toml prints the effective settings and exits 0', T, async () => {
  const { code, stdout, stderr } = await run(['check-config', '-c', DEV_TOML]);
  assert.equal(code, 0, stderr);
  assert.equal(stderr, '');
  assert.match(stdout, /^hostname = "localhost"$/m);
  assert.match(stdout, new RegExp(`^data_dir = "${join(REPO, 'data')}"$`, 'm'));
  assert.match(stdout, /^listen = \["\[::\]:2525"\]$/m);
  assert.match(stdout, /^listen_tls = \["\[::\]:2465"\]$/m);
  assert.match(stdout, /^listen = \["127\.0\.0\.1:2587", "\[::1\]:2587"\]$/m);
  assert.match(stdout, /^max_message_size = "25MB" {2}# 26214400 bytes$/m);
  assert.match(stdout, /^retry_min = "5m" {2}# 300000 ms$/m);
  assert.match(stdout, /^postmaster = \["postmaster@localhost"\]$/m);
});

test('the printed settings are a config that loads to the same values', T, async () => {
  const { stdout } = await run(['check-config', '-c', DEV_TOML]);
  const copy = await writeConfig(stdout);
  const original = await loadConfig(DEV_TOML);
  const reloaded = await loadConfig(copy);
  assert.deepEqual({ ...reloaded, file: null }, { ...original, file: null });
});

test('check-config on a bad file prints FILE: key: problem lines and exits 2', T, async () => {
  const file = await writeConfig(
    ['hostnme = "mx.test"', '[inbound]', 'listen = ["localhost:25"]', 'max_message_size = "lots"', '[outbound]', 'listen = ["0.0.0.0:587"]', 'retry_min = "5"'].join('\n'),
  );
  const { code, stdout, stderr } = await run(['check-config', '-c', file]);
  assert.equal(code, 2);
  assert.equal(stdout, '');
  const lines = stderr.trimEnd().split('\n');
  assert.equal(lines.length, 5, stderr);
  for (const line of lines) assert.ok(line.startsWith(`${file}: `), line);
  const keys = lines.map((l) => l.slice(file.length + 2).split(': ')[0]).sort();
  assert.deepEqual(keys, ['hostnme', 'inbound.listen', 'inbound.max_message_size', 'outbound.listen', 'outbound.retry_min']);
});

test('check-config: a TOML syntax error and a missing file also exit 2', T, async () => {
  const file = await writeConfig('[inbound\n');
  const bad = await run(['check-config', '-c', file]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, new RegExp(`^${file}: line 1, column \\d+: TOML syntax error: `));
  const missing = join(dir, 'missing.toml');
  const gone = await run(['check-config', '-c', missing]);
  assert.equal(gone.code, 2);
  assert.equal(gone.stderr, `${missing}: (file): cannot read the config file: no such file\n`);
});

test('check-config warns about a local domain without postmaster, and still exits 0', T, async () => {
  const file = await writeConfig(['hostname = "mx.test"', '[inbound]', 'domains = ["example.org", "example.net"]', '[inbound.users]', 'postmaster = ["postmaster@example.org"]'].join('\n'));
  const { code, stderr } = await run(['check-config', '-c', file]);
  assert.equal(code, 0);
  assert.equal(stderr, `${file}: inbound.users: warning: no mailbox receives postmaster@example.net (RFC 5321 §4.5.1 requires one)\n`);
});

test('check-config reads the users file and reports its problems under inbound.users_file', T, async () => {
  const file = await writeConfig(['hostname = "mx.test"', '[inbound]', 'domains = ["example.org"]', 'users_file = "users"'].join('\n'));
  const users = join(dirname(file), 'users');
  await writeFile(users, 'postmaster : postmaster@example.org\nno colon here\n');
  const bad = await run(['check-config', '-c', file]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, new RegExp(`^${file}: inbound.users_file: ${users}:2: `));

  await writeFile(users, 'postmaster : postmaster@example.org\ncarol : carol@example.org\n');
  const good = await run(['check-config', '-c', file]);
  assert.equal(good.code, 0, good.stderr);
  assert.match(good.stdout, /^# every mailbox, users_file included: postmaster, carol$/m);
});

test('without -c, ./facteur.toml is used when it exists', T, async () => {
  const file = await writeConfig('hostname = "from-cwd.test"');
  const { code, stdout, stderr } = await run(['check-config'], dirname(file));
  assert.equal(code, 0, stderr);
  assert.match(stdout, /^hostname = "from-cwd.test"$/m);
});

test('usage errors exit 2; --help and --version exit 0', T, async () => {
  for (const args of [['frobnicate'], [], ['check-config', '--bogus'], ['queue'], ['queue', 'delete'], ['start', 'extra'], ['check-config', '-c']]) {
    const { code, stderr } = await run(args);
    assert.equal(code, 2, `${args.join(' ')}: ${stderr}`);
    assert.notEqual(stderr, '');
  }
  const help = await run(['--help']);
  assert.equal(help.code, 0);
  for (const command of ['start', 'check-config', 'queue']) assert.match(help.stdout, new RegExp(`^  ${command}`, 'm'));
  const queueHelp = await run(['queue', '--help']);
  assert.equal(queueHelp.code, 0);
  for (const command of ['list', 'flush', 'delete']) assert.match(queueHelp.stdout, new RegExp(`^  ${command}`, 'm'));
  const version = await run(['--version']);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^\d+\.\d+\.\d+/);
});

test('queue commands with a bad config exit 2', T, async () => {
  const file = await writeConfig('bogus = 1');
  const { code, stderr } = await run(['queue', 'list', '-c', file, '--json']);
  assert.equal(code, 2);
  assert.equal(stderr, `${file}: bogus: unknown key\n`);
});

/** Spawns `facteur start` and collects its JSON log lines from stderr. */
function startProcess(file: string): { child: ChildProcess; waitFor: (event: string) => Promise<Record<string, unknown>>; stderr: () => string } {
  const child = spawn(process.execPath, [MAIN, 'start', '-c', file], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const seen: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const waiting = new Map<string, (entry: Record<string, unknown>) => void>();
  createInterface({ input: child.stderr! }).on('line', (line) => {
    raw.push(line);
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    seen.push(entry);
    waiting.get(String(entry.event))?.(entry);
  });
  const waitFor = (event: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const found = seen.find((e) => e.event === event);
      if (found !== undefined) return resolve(found);
      waiting.set(event, resolve);
      child.once('exit', () => reject(new Error(`exited before "${event}"; stderr:\n${raw.join('\n')}`)));
    });
  return { child, waitFor, stderr: () => raw.join('\n') };
}

test('start runs until SIGTERM and exits 0; SIGHUP reloads without stopping', T, async (t) => {
  const file = await writeConfig(smallConfig());
  const { child, waitFor, stderr } = startProcess(file);
  t.after(() => child.kill('SIGKILL'));
  const exited = once(child, 'exit');
  const started = await waitFor('started');
  assert.equal(started.hostname, 'mx.test');
  assert.equal((started.listeners as string[]).length, 3);

  child.kill('SIGHUP');
  await waitFor('reloaded');
  assert.equal(child.exitCode, null);

  child.kill('SIGTERM');
  await waitFor('stopped');
  const [code] = (await exited) as [number | null];
  assert.equal(code, 0, stderr());
});

test('start: an address already in use exits 1 with a message naming it', T, async (t) => {
  const busy = createServer();
  busy.listen(0, '127.0.0.1');
  await once(busy, 'listening');
  t.after(() => busy.close());
  const port = (busy.address() as AddressInfo).port;
  const file = await writeConfig(smallConfig(`127.0.0.1:${port}`));
  const { code, stderr } = await run(['start', '-c', file]);
  assert.equal(code, 1);
  assert.match(stderr, new RegExp(`^cannot listen on 127\\.0\\.0\\.1:${port}: address already in use`, 'm'));
});

test('start with a bad config exits 2 before binding anything', T, async () => {
  const file = await writeConfig('[inbound]\nlisten = ["nowhere"]');
  const { code, stderr } = await run(['start', '-c', file]);
  assert.equal(code, 2);
  assert.match(stderr, new RegExp(`^${file}: inbound.listen: "nowhere" is not a listen address`));
});
