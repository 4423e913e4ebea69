// `facteur queue list|flush|delete` against a running relay's queue (through its control socket) and against the files alone.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import type { CommandOutput } from '../../../src/cli/output.js';
import { queueDelete, queueFlush, queueList } from '../../../src/cli/queue-commands.js';
import type { Config } from '../../../src/config/config.js';
import type { SessionInfo } from '../../../src/delivery.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { Relay } from '../../../src/outbound/relay.js';
import { controlSocketPath } from '../../../src/outbound/queue-control.js';
import type { TransferResult } from '../../../src/outbound/courier.js';
import { addr, allWith, FakeCourier } from '../../helpers/queue-fixtures.js';
import { inboundConfig } from '../../helpers/inbound-fixtures.js';
import { DEFAULT_CIPHERS } from '../../../src/tls/tls-profile.js';

const HOUR = 3_600_000;

function makeConfig(dataDir: string): Config {
  return {
    file: null,
    hostname: 'relay.test',
    dataDir,
    workers: 1,
    dnsServers: [],
    log: { level: 'error', file: null },
    tls: { cert: null, key: null, ciphers: DEFAULT_CIPHERS, minVersion: 'TLSv1.2' },
    metrics: { listen: null },
    timeouts: { command: 300_000, data: 600_000, connect: 300_000, shutdownGrace: 10_000 },
    inbound: inboundConfig(join(dataDir, 'mail'), { enabled: false, domains: [], maxMessageSize: 25 * 1024 * 1024, maxConnections: 1000 }),
    outbound: {
      enabled: true,
      listen: [{ host: '127.0.0.1', port: 0, text: '127.0.0.1:0' }],
      queueDir: join(dataDir, 'queue'),
      smtpPort: 25,
      dnsServers: [],
      tls: 'opportunistic',
      caFile: null,
      mtaSts: true,
      addressPreference: 'ipv6',
      sourceIpv4: null,
      sourceIpv6: null,
      dane: false,
      // A retry an hour away: only a flush can bring one within the test.
      retryMin: HOUR,
      retryMax: 4 * HOUR,
      queueLifetime: 5 * 24 * HOUR,
      maxMessageSize: 25 * 1024 * 1024,
      maxRecipients: 100,
      maxConnections: 100,
      maxIdleCommands: 100,
      maxSessionTime: 3_600_000,
      concurrency: 10,
      concurrencyPerDomain: 2,
    },
    submission: {
      enabled: false,
      listen: [],
      listenTls: [],
      passwordsFile: join(dataDir, 'passwords'),
      maxAuthFailures: 10,
      authFailureWindow: 600_000,
      authBan: HOUR,
      maxMessagesPerHour: 500,
      receivedShowsUser: false,
      maxConnections: 100,
    },
    dkim: { domains: [], selector: 'facteur', keyDir: join(dataDir, 'dkim') },
  };
}

const session: SessionInfo = { id: 's1', remoteAddress: '127.0.0.1', remotePort: 1, localAddress: '127.0.0.1', localPort: 587, heloName: 'c', esmtp: true, tls: null };

/** Captures what a command prints. */
function capture(): CommandOutput & { stdout: string; stderr: string } {
  const io = {
    stdout: '',
    stderr: '',
    out(text: string) {
      io.stdout += text;
    },
    err(text: string) {
      io.stderr += text;
    },
  };
  return io;
}

/** A fresh data dir; what `onEnd` registers runs at the end of the test in reverse order, before the dir is removed. */
async function setup(t: TestContext): Promise<{ config: Config; onEnd: (fn: () => Promise<void>) => void }> {
  const cleanups: (() => Promise<void>)[] = [];
  const root = await mkdtemp(join(tmpdir(), 'fq-'));
  t.after(async () => {
    for (const fn of cleanups.reverse()) await fn();
    await rm(root, { recursive: true, force: true });
  });
  return { config: makeConfig(join(root, 'data')), onEnd: (fn) => cleanups.push(fn) };
}

async function startRelay(env: { config: Config; onEnd: (fn: () => Promise<void>) => void }, transfer: FakeCourier): Promise<Relay> {
  const { config } = env;
  const relay = await Relay.open({ config: config.outbound, hostname: config.hostname, dataDir: config.dataDir, courier: transfer, logger: silentLogger() });
  env.onEnd(() => relay.close());
  await relay.start();
  return relay;
}

async function send(relay: Relay, from: string, to: string[]): Promise<string> {
  const sink = await relay.delivery.open({ reversePath: from === '' ? null : addr(from), recipients: to.map(addr), eightBit: false, smtputf8: false, declaredSize: null }, session);
  await sink.write(Buffer.from('Received: from c ([127.0.0.1])\nSubject: test\n\nHello.\n'));
  const reply = await sink.commit();
  return /queued as (\w+)/.exec(reply.lines[0] ?? '')?.[1] ?? assert.fail('no id in the 250 reply');
}

/** Resolves with the value, or rejects if it takes longer than `ms` (the promise itself is the event we wait for). */
function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

const deferredOnce = (): FakeCourier => new FakeCourier((req): TransferResult => allWith(req, 'transient', '451 4.7.1 Greylisted'));

test('while the server runs: list --json, flush (acted on within a second) and delete go through the control socket', async (t) => {
  const env = await setup(t);
  const { config } = env;
  const transfer = deferredOnce();
  const relay = await startRelay(env, transfer);
  const id = await send(relay, 'alice@origin.test', ['bob@dest.test', 'carol@dest.test']);
  await within(1000, transfer.waitForCall(1), 'the first attempt');
  await relay.queue.whenIdle();

  const list = capture();
  assert.equal(await queueList(config, { json: true }, list), 0);
  const entries = JSON.parse(list.stdout) as unknown[];
  assert.equal(entries.length, 1);
  const entry = entries[0] as Record<string, unknown>;
  assert.deepEqual(Object.keys(entry), ['id', 'from', 'created', 'size', 'recipients']);
  assert.equal(entry.id, id);
  assert.equal(entry.from, 'alice@origin.test');
  assert.match(String(entry.created), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.equal(entry.size, 53);
  const recipients = entry.recipients as Record<string, unknown>[];
  assert.deepEqual(recipients.map((r) => Object.keys(r)), [0, 1].map(() => ['address', 'status', 'attempts', 'next_attempt', 'last_error']));
  assert.deepEqual(recipients[0], { address: 'bob@dest.test', status: 'deferred', attempts: 1, next_attempt: recipients[0]?.next_attempt, last_error: '451 4.7.1 Greylisted' });
  assert.ok(Date.parse(String(recipients[0]?.next_attempt)) > Date.now() + HOUR / 2, 'the retry is far away');

  const human = capture();
  assert.equal(await queueList(config, { json: false }, human), 0);
  assert.match(human.stdout, new RegExp(`^${id}  \\d+s  <alice@origin\\.test>  53 bytes$`, 'm'));
  assert.match(human.stdout, /^ {4}bob@dest\.test {2}deferred {2}attempts 1 {2}next \S+ \(in \d+[mh]\) {2}last error: 451 4\.7\.1 Greylisted$/m);

  const flush = capture();
  assert.equal(await queueFlush(config, flush), 0);
  await within(1000, transfer.waitForCall(2), 'the attempt asked for by flush');
  await relay.queue.whenIdle();

  const del = capture();
  assert.equal(await queueDelete(config, id, del), 0);
  assert.match(del.stdout, new RegExp(`^${id}: deleted`));
  assert.deepEqual(await readdir(config.outbound.queueDir), []);
  assert.deepEqual(relay.queue.list(), [], 'the queue forgot it');
  relay.queue.flush();
  await relay.queue.whenIdle();
  assert.equal(transfer.calls.length, 2, 'never tried again');

  const again = capture();
  assert.equal(await queueDelete(config, id, again), 1);
  assert.match(again.stderr, /not in the queue/);
  const bad = capture();
  assert.equal(await queueDelete(config, '../../etc/passwd', bad), 1);
  assert.match(bad.stderr, /not in the queue/);

  const empty = capture();
  assert.equal(await queueList(config, { json: false }, empty), 0);
  assert.equal(empty.stdout, 'queue is empty\n');
  const emptyJson = capture();
  assert.equal(await queueList(config, { json: true }, emptyJson), 0);
  assert.deepEqual(JSON.parse(emptyJson.stdout), []);
});

test('while the server is stopped: flush says so and exits 1, list and delete work on the files', async (t) => {
  const env = await setup(t);
  const { config } = env;
  const transfer = deferredOnce();
  const relay = await startRelay(env, transfer);
  const keep = await send(relay, '', ['bob@dest.test']);
  const drop = await send(relay, 'alice@origin.test', ['carol@dest.test']);
  await within(1000, transfer.waitForCall(2), 'both attempts');
  await relay.queue.whenIdle();
  await relay.close();

  const flush = capture();
  assert.equal(await queueFlush(config, flush), 1);
  assert.equal(flush.stderr, 'facteur is not running\n');

  const list = capture();
  assert.equal(await queueList(config, { json: true }, list), 0);
  const entries = JSON.parse(list.stdout) as { id: string; from: string; recipients: { status: string }[] }[];
  assert.deepEqual(entries.map((e) => [e.id, e.from, e.recipients[0]?.status]), [
    [keep, '', 'deferred'],
    [drop, 'alice@origin.test', 'deferred'],
  ]);

  const del = capture();
  assert.equal(await queueDelete(config, drop, del), 0);
  // Both were tried once: each has its message file and the state its attempt left.
  assert.deepEqual((await readdir(config.outbound.queueDir)).sort(), [`${keep}.json`, `${keep}.msg`]);
  const missing = capture();
  assert.equal(await queueDelete(config, drop, missing), 1);
  assert.match(missing.stderr, /not in the queue/);

  // An unreadable message file is reported by list, and left where it is (the server sets it aside at start).
  await writeFile(join(config.outbound.queueDir, 'broken1.msg'), 'no envelope line');
  const warned = capture();
  assert.equal(await queueList(config, { json: true }, warned), 0);
  assert.deepEqual((JSON.parse(warned.stdout) as { id: string }[]).map((e) => e.id), [keep]);
  assert.match(warned.stderr, /^warning: broken1\.msg: /);
  assert.deepEqual((await readdir(config.outbound.queueDir)).sort(), ['broken1.msg', `${keep}.json`, `${keep}.msg`].sort());
});

test('a queue that was never created lists as empty', async (t) => {
  const { config } = await setup(t);
  const io = capture();
  assert.equal(await queueList(config, { json: true }, io), 0);
  assert.equal(io.stdout, '[]\n');
});

test('a stale control socket file is replaced at start; a live one means another server is running', async (t) => {
  const env = await setup(t);
  const { config } = env;
  const { dataDir } = config;
  await mkdir(dataDir, { recursive: true });
  await writeFile(controlSocketPath(dataDir), 'left by a crash');
  const transfer = deferredOnce();
  const relay = await startRelay(env, transfer);
  await send(relay, 'alice@origin.test', ['bob@dest.test']);
  await within(1000, transfer.waitForCall(1), 'the first attempt');
  await relay.queue.whenIdle();
  assert.equal(await queueFlush(config, capture()), 0);
  await within(1000, transfer.waitForCall(2), 'the flushed attempt');
  await relay.queue.whenIdle();

  // Refused before it touches the queue: the first server's files in flight are not leftovers.
  await assert.rejects(
    Relay.open({ config: config.outbound, hostname: 'relay.test', dataDir, courier: transfer, logger: silentLogger() }),
    /another facteur is running/,
  );
  assert.equal(await queueFlush(config, capture()), 0, 'the first server still answers');
});

test('a restart reloads the queue: deferred items are kept with their state', async (t) => {
  const env = await setup(t);
  const transfer = deferredOnce();
  const first = await startRelay(env, transfer);
  const id = await send(first, 'alice@origin.test', ['bob@dest.test']);
  await within(1000, transfer.waitForCall(1), 'the first attempt');
  await first.queue.whenIdle();
  await first.close();

  const second = await startRelay(env, transfer);
  assert.deepEqual(second.queue.list().map((e) => [e.id, e.recipients[0]?.status, e.recipients[0]?.attempts]), [[id, 'deferred', 1]]);
  assert.equal(transfer.calls.length, 1, 'not retried before its time');
});
