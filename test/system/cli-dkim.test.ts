// `facteur dkim keygen` and check-config's key check, as users run them.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { once } from 'node:events';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseTxtRecord } from '../helpers/dkim.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const T = { timeout: 30_000 };

let dir: string;
let count = 0;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'facteur-cli-dkim-'));
});
after(() => rm(dir, { recursive: true, force: true }));

async function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [MAIN, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr };
}

/** A config listing example.org for signing (no key yet), with its own data_dir; and that folder. */
async function config(): Promise<{ file: string; keys: string }> {
  const sub = join(dir, `c${++count}`);
  await mkdir(sub);
  const file = join(sub, 'facteur.toml');
  await writeFile(file, ['hostname = "mx.example.org"', 'data_dir = "data"', '[inbound]', 'domains = ["example.org"]', '[inbound.users]', 'postmaster = ["postmaster@example.org"]', '[dkim]', 'domains = ["example.org"]'].join('\n'));
  return { file, keys: join(sub, 'data', 'dkim', 'example.org') };
}

test('check-config fails on a listed domain without a key; keygen makes one (0600) and prints its record; then check-config passes', T, async () => {
  const { file, keys } = await config();
  const before = await run(['check-config', '-c', file]);
  assert.equal(before.code, 2);
  assert.match(before.stderr, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: dkim\\.domains: example\\.org: no key in .*facteur dkim keygen example\\.org\\)$`, 'm'));

  const made = await run(['dkim', 'keygen', 'example.org', '-c', file]);
  assert.equal(made.code, 0, made.stderr);
  const lines = made.stdout.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, 'one line on stdout');
  assert.match(lines[0] as string, /^facteur\._domainkey\.example\.org\. IN TXT "v=DKIM1; k=rsa; p=[A-Za-z0-9+/=]+"( "[A-Za-z0-9+/=]+")*$/);
  const keyFile = join(keys, 'facteur.key');
  assert.equal((await stat(keyFile)).mode & 0o777, 0o600);

  // The printed record publishes the public half of the key written.
  const { strings } = parseTxtRecord(lines[0] as string);
  const p = /p=(.*)$/.exec(strings.join(''))?.[1] ?? '';
  const publicDer = createPublicKey(createPrivateKey(await readFile(keyFile, 'utf8'))).export({ type: 'spki', format: 'der' });
  assert.equal(p, publicDer.toString('base64'));
  assert.equal(createPrivateKey(await readFile(keyFile, 'utf8')).asymmetricKeyDetails?.modulusLength, 2048);

  const after = await run(['check-config', '-c', file]);
  assert.equal(after.code, 0, after.stderr);
  assert.match(after.stdout, /\n\[dkim\]\ndomains = \["example\.org"\]\nselector = "facteur"\n/);
});

test('an existing key is never replaced: exit 1, the file unchanged', T, async () => {
  const { file, keys } = await config();
  assert.equal((await run(['dkim', 'keygen', 'example.org', '-c', file])).code, 0);
  const first = await readFile(join(keys, 'facteur.key'));
  const again = await run(['dkim', 'keygen', 'example.org', '-c', file, '--algorithm', 'ed25519']);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /already exists .*--selector/);
  assert.equal(again.stdout, '');
  assert.deepEqual(await readFile(join(keys, 'facteur.key')), first);
});

test('Ed25519 with its own selector: the bare 32-octet key in p= (RFC 8463 §4.2)', T, async () => {
  const { file, keys } = await config();
  const made = await run(['dkim', 'keygen', 'example.org', '--selector', 'ed2026', '--algorithm', 'ed25519', '-c', file]);
  assert.equal(made.code, 0, made.stderr);
  const m = /^ed2026\._domainkey\.example\.org\. IN TXT "v=DKIM1; k=ed25519; p=([A-Za-z0-9+/=]{44})"\n$/.exec(made.stdout);
  assert.ok(m !== null, made.stdout);
  assert.equal(Buffer.from(m[1] as string, 'base64').length, 32);
  assert.equal(createPrivateKey(await readFile(join(keys, 'ed2026.key'), 'utf8')).asymmetricKeyType, 'ed25519');
});

test('bad usage exits 2: a bad domain, a bad selector, an unknown algorithm', T, async () => {
  const { file } = await config();
  for (const args of [['not_a_domain'], ['example.org', '--selector', 'bad_sel'], ['example.org', '--algorithm', 'dsa']]) {
    const r = await run(['dkim', 'keygen', ...args, '-c', file]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '');
  }
});

test('check-config refuses a key that other users may read', T, async () => {
  const { file, keys } = await config();
  assert.equal((await run(['dkim', 'keygen', 'example.org', '-c', file])).code, 0);
  await chmod(join(keys, 'facteur.key'), 0o644);
  const r = await run(['check-config', '-c', file]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /dkim\.domains: example\.org: .*facteur\.key: other users may read or change it \(mode 0644\): run chmod 600/);
});
