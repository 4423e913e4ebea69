// `facteur queue list|flush|delete` as users run them, against a real `facteur start` process with messages in its queue.
import assert from 'node:assert/strict';
import { watch } from 'node:fs';
import { access, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { prepareFacteur, runCli, spawnFacteur, type PreparedFacteur, type SpawnedFacteur } from '../helpers/facteur.js';
import { messageText, startRelayWorld, submit, type RelayWorld } from '../helpers/relay.js';
import { sendTransaction, SmtpDialog } from '../helpers/smtp-dialog.js';
import { startScriptedPeer, type ScriptedPeer } from '../helpers/smtp-peer.js';

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;
type LogEntry = Record<string, unknown>;

describe('facteur queue list / flush / delete', () => {
  let world: RelayWorld;
  let prepared: PreparedFacteur;
  let facteur: SpawnedFacteur;
  let silent: ScriptedPeer;
  /** Resolves when the silent peer gets EHLO: the relay is then in the middle of an attempt. */
  let silentReached: Promise<void>;
  const ids = { plain: '', nullSender: '', inFlight: '' };

  const cli = (...args: string[]) => runCli(['queue', ...args, '-c', prepared.configPath]);
  const listJson = async (): Promise<Record<string, unknown>[]> => {
    const r = await cli('list', '--json');
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Record<string, unknown>[];
  };
  const deferred = (address: string) => (e: LogEntry) =>
    e.event === 'attempt' && e.outcome === 'deferred' && Array.isArray(e.recipients) && e.recipients.includes(address);

  before(async () => {
    world = await startRelayWorld();
    // Nothing listens on 127.0.0.2 yet: down.test's MX refuses connections. Retries an hour away: only a flush helps.
    world.route('down.test', '127.0.0.2');
    world.route('gone.test', '127.0.0.3');
    world.route('silent.test', '127.0.0.4');
    let reached: () => void = () => undefined;
    silentReached = new Promise((resolve) => (reached = resolve));
    // Greets, then never answers EHLO: the attempt stays in flight until the end of the file (the client waits minutes).
    silent = await startScriptedPeer({
      host: '127.0.0.4',
      port: world.port,
      onCommand: () => {
        reached();
        return null;
      },
    });
    prepared = await prepareFacteur({ outbound: true, toml: world.toml('retry_min = "1h"\nretry_max = "2h"') });
    facteur = await spawnFacteur(prepared.configPath);

    const port = facteur.port('outbound');
    const plainDeferred = facteur.waitForLog(deferred('a@down.test'));
    ids.plain = (await submit(port, { from: 'sender@client.example', to: ['a@down.test', 'b@down.test'], raw: messageText('plain') })).id;
    await plainDeferred;

    const nullDeferred = facteur.waitForLog(deferred('n@down.test'));
    const d = await SmtpDialog.connect(port);
    try {
      await d.expect(220);
      await d.command('EHLO client.example');
      await d.expect(250);
      const final = await sendTransaction(d, { from: '', to: ['n@down.test'], text: messageText('null') });
      ids.nullSender = /queued as ([A-Za-z0-9]+)$/.exec(final.lines[0] ?? '')?.[1] ?? '';
    } finally {
      d.close();
    }
    await nullDeferred;

    ids.inFlight = (await submit(port, { from: 'sender@client.example', to: ['s@silent.test'], raw: messageText('silent') })).id;
    await silentReached;
  });
  after(async () => {
    await facteur?.kill();
    await silent?.close();
    await world?.close();
    await prepared?.cleanup();
  });

  test('queue list --json: the exact shape the README gives, "" for the null sender, deferred and pending recipients', async () => {
    const entries = await listJson();
    assert.deepEqual(entries.map((e) => e.id), [ids.plain, ids.nullSender, ids.inFlight], 'oldest first');
    for (const e of entries) {
      assert.deepEqual(Object.keys(e).sort(), ['created', 'from', 'id', 'recipients', 'size']);
      assert.match(String(e.created), ISO);
      assert.equal(typeof e.size, 'number');
      assert.ok((e.size as number) > messageText('plain').length - 10, 'size in bytes of the stored message');
      for (const r of e.recipients as Record<string, unknown>[]) {
        assert.deepEqual(Object.keys(r).sort(), ['address', 'attempts', 'last_error', 'next_attempt', 'status']);
      }
    }
    const [plain, nullSender, inFlight] = entries as { from: string; recipients: Record<string, unknown>[] }[];
    assert.equal(plain?.from, 'sender@client.example');
    assert.equal(nullSender?.from, '');
    for (const r of [...(plain?.recipients ?? []), ...(nullSender?.recipients ?? [])]) {
      assert.equal(r.status, 'deferred');
      assert.equal(r.attempts, 1);
      assert.match(String(r.next_attempt), ISO);
      assert.ok(Date.parse(String(r.next_attempt)) > Date.now() + 50 * 60_000, 'next attempt about an hour away');
      assert.match(String(r.last_error), /connection refused/i);
    }
    assert.deepEqual(plain?.recipients.map((r) => r.address), ['a@down.test', 'b@down.test']);
    // Being tried right now: pending, never tried before, nothing to report yet.
    assert.deepEqual(inFlight?.recipients, [{ address: 's@silent.test', status: 'pending', attempts: 0, next_attempt: null, last_error: null }]);
  });

  test('queue list: one row per message, one line per recipient', async () => {
    const r = await cli('list');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^${ids.plain}  \\d+s  <sender@client\\.example>  \\d+ bytes$`, 'm'));
    assert.match(r.stdout, new RegExp(`^${ids.nullSender}  \\d+s  <>  \\d+ bytes$`, 'm'));
    assert.match(r.stdout, /^ {4}a@down\.test {2}deferred {2}attempts 1 {2}next \S+ \(in \d+[mh]\) {2}last error: .*refused/im);
    assert.match(r.stdout, /^ {4}s@silent\.test {2}pending {2}attempts 0 {2}next now$/m);
    assert.match(r.stdout, /^3 messages$/m);
  });

  test('queue flush: the server retries at once; the MX that came back up gets the deferred messages', async (t) => {
    const peer = await world.peer('127.0.0.2');
    t.after(() => peer.close());
    const done = Promise.all([ids.plain, ids.nullSender].map((id) => facteur.waitForLog((e) => e.event === 'finished' && e.id === id)));
    const r = await cli('flush');
    assert.equal(r.code, 0, r.stderr);
    const flushed = Date.now();
    const messages = await peer.waitForMessages(2, 3000);
    const elapsed = Date.now() - flushed;
    t.diagnostic(`both deferred messages received ${elapsed} ms after the flush command returned`);
    assert.ok(elapsed < 1500, `acted within a second (plus the peer's 100 ms greeting delay): ${elapsed} ms`);
    assert.deepEqual(messages.map((m) => [m.from, m.to]).sort(), [
      ['', ['n@down.test']],
      ['sender@client.example', ['a@down.test', 'b@down.test']],
    ]);
    await done;
    assert.deepEqual((await listJson()).map((e) => e.id), [ids.inFlight], 'the delivered messages left the queue');
  });

  test('queue delete ID: the message leaves the queue and its files are gone; an unknown id exits 1 with a reason', async () => {
    const deferredGone = facteur.waitForLog(deferred('g@gone.test'));
    const { id } = await submit(facteur.port('outbound'), { from: 'sender@client.example', to: ['g@gone.test'], raw: messageText('gone') });
    await deferredGone;
    const queueDir = join(prepared.dataDir, 'queue');
    // The attempt is logged before its state is written: <id>.json (beside <id>.msg) may be a moment behind.
    await waitForFile(queueDir, `${id}.json`);
    const before = await readdir(queueDir);
    assert.ok(before.includes(`${id}.msg`) && before.includes(`${id}.json`), before.join(', '));

    const r = await cli('delete', id);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${id}: deleted\n`);
    assert.ok(!(await listJson()).some((e) => e.id === id));
    assert.deepEqual((await readdir(queueDir)).filter((f) => f.startsWith(id)), []);

    const again = await cli('delete', id);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /not in the queue/);
    const unknown = await cli('delete', 'nosuchid0000');
    assert.equal(unknown.code, 1);
    assert.equal(unknown.stderr, 'nosuchid0000: not in the queue\n');
    const path = await cli('delete', '../control.sock');
    assert.equal(path.code, 1);
    assert.match(path.stderr, /not in the queue/);
  });
});

/** Resolves once `dir/name` exists (made by another process): a directory watch, armed before the first look. */
async function waitForFile(dir: string, name: string, timeoutMs = 5000): Promise<void> {
  const watcher = watch(dir);
  let timer: NodeJS.Timeout | undefined;
  try {
    const appeared = new Promise<void>((resolve, reject) => {
      watcher.on('change', (_event, file) => {
        if (file === name) resolve();
      });
      watcher.on('error', reject);
      timer = setTimeout(() => reject(new Error(`${name} did not appear in ${dir} within ${timeoutMs} ms`)), timeoutMs);
    });
    appeared.catch(() => undefined);
    const exists = await access(join(dir, name)).then(
      () => true,
      () => false,
    );
    if (!exists) await appeared;
  } finally {
    clearTimeout(timer);
    watcher.close();
  }
}
