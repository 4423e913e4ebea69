// `facteur dkim keygen`, and the key checks of check-config and start, as users run them; SIGHUP re-reads the keys.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { once } from 'node:events';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { generateDkimKey } from '../../src/mailauth/dkim-keygen.js';
import { parseTxtRecord } from '../helpers/dkim.js';
import { prepareFacteur, runCli, spawnFacteur, type PreparedFacteur, type SpawnedFacteur } from '../helpers/facteur.js';
import { startRelayWorld, submit, type RelayWorld } from '../helpers/relay.js';
import type { SmtpPeer } from '../helpers/smtp-peer.js';

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

test('start refuses a listed domain without a key: exit 2 with the FILE: dkim.domains: line, before binding anything', T, async () => {
  const { file } = await config();
  // Loopback port 0 everywhere: were the check missing, the server would start here rather than on port 25.
  const listen = ['[inbound]', 'listen = ["127.0.0.1:0"]', 'listen_tls = []', '[outbound]', 'listen = ["127.0.0.1:0"]'];
  await writeFile(file, (await readFile(file, 'utf8')).replace('[inbound]', listen.slice(0, 3).join('\n')) + `\n${listen.slice(3).join('\n')}\n`);
  const r = await runCli(['start', '-c', file]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: dkim\\.domains: example\\.org: no key in .*facteur dkim keygen example\\.org\\)$`, 'm'));
  assert.doesNotMatch(r.stderr, /"event":"started"/);
});

describe('SIGHUP and the DKIM keys of a running facteur start', () => {
  let world: RelayWorld;
  let sink: SmtpPeer;
  let prepared: PreparedFacteur;
  let f: SpawnedFacteur;
  let keyDir: string;
  before(async () => {
    world = await startRelayWorld();
    world.route('remote.example', '127.0.0.2');
    sink = await world.peer('127.0.0.2');
    prepared = await prepareFacteur({ outbound: true, toml: ['hostname = "mx.example.org"', '[dkim]', 'domains = ["example.org"]', world.toml()].join('\n') });
    keyDir = join(prepared.dataDir, 'dkim');
    publish(await generateDkimKey(keyDir, 'example.org', 'sel1', 'ed25519'));
    f = await spawnFacteur(prepared.configPath);
  });
  after(async () => {
    await f?.kill();
    await world?.close();
    await prepared?.cleanup();
  });

  function publish(key: { record: string }): void {
    const { name, strings } = parseTxtRecord(key.record);
    world.zone[name] = { TXT: [strings] };
  }

  /** Submits one message from alice@example.org; resolves with the s= tags of the copy the sink received. */
  async function selectorsOfNext(marker: string): Promise<string[]> {
    const to = `${marker}@remote.example`;
    const { id } = await submit(f.port('outbound'), { from: 'alice@example.org', to: [to], raw: `From: <alice@example.org>\r\nSubject: ${marker}\r\n\r\nHello.\r\n` });
    await f.waitForLog((e) => e.event === 'attempt' && e.id === id && e.outcome === 'sent');
    const m = sink.messages.find((x) => x.to.includes(to));
    assert.ok(m !== undefined, `the sink has the message for ${to}`);
    return [...m.body.toString('utf8').matchAll(/^DKIM-Signature:[^]*?\bs=([^;\s]+)/gm)].map((x) => x[1] as string);
  }

  test('a key replaced on disk signs the next message after SIGHUP; a reload that finds no key keeps the previous ones', T, async () => {
    assert.deepEqual(await selectorsOfNext('first'), ['sel1']);
    await rm(join(keyDir, 'example.org', 'sel1.key'));
    publish(await generateDkimKey(keyDir, 'example.org', 'sel2', 'rsa'));
    const reloaded = f.waitForLog((e) => e.event === 'reloaded');
    process.kill(f.pid, 'SIGHUP');
    await reloaded;
    assert.deepEqual(await selectorsOfNext('second'), ['sel2']);

    // Every key gone: the reload says so, and mail does not start leaving unsigned.
    await rm(join(keyDir, 'example.org', 'sel2.key'));
    const failed = f.waitForLog((e) => e.event === 'dkim-reload-failed');
    const done = f.waitForLog((e) => e.event === 'reloaded');
    process.kill(f.pid, 'SIGHUP');
    assert.match(String((await failed).msg), /no key in/);
    await done;
    assert.deepEqual(await selectorsOfNext('third'), ['sel2']);
  });
});
