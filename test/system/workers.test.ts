// A real `facteur start` with workers = 2: sessions served by two processes, the state that must be one per server
// kept by the primary (queue, client limits, metrics, reload), a dead worker replaced, and a clean stop.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { prepareFacteur, runCli, spawnFacteur, type PreparedFacteur, type SpawnedFacteur } from '../helpers/facteur.js';
import { MAILDIR_NAME, readMail } from '../helpers/maildir.js';
import { messageText, startRelayWorld, submit, type RelayWorld } from '../helpers/relay.js';
import { deliverOne, SmtpDialog } from '../helpers/smtp-dialog.js';
import type { SmtpPeer } from '../helpers/smtp-peer.js';

const pidsOf = (names: readonly string[]): Set<number> => new Set(names.map((n) => Number(MAILDIR_NAME.exec(n)?.[3])));
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('workers = 2', () => {
  let prepared: PreparedFacteur;
  let world: RelayWorld;
  let sink: SmtpPeer;
  let facteur: SpawnedFacteur;
  let workers: number[];
  let usersFile: string;
  let inboundSent = 0;
  let forwardSink: SmtpPeer;

  before(async () => {
    world = await startRelayWorld();
    sink = await world.peer('127.0.0.1');
    world.route('example.net', '127.0.0.1');
    // A second host that defers every recipient: its messages stay in the queue for the CLI.
    await world.peer('127.0.0.2', { rcptReply: () => ({ code: 451, text: '4.7.1 try later' }) });
    world.route('later.example', '127.0.0.2');
    // An alias's outside target (README, Addresses): the forward a worker accepts goes into the primary's queue.
    forwardSink = await world.peer('127.0.0.3');
    world.route('forward.example', '127.0.0.3');
    const limits = '[inbound]\nusers_file = "users"\nlimits_exempt = []\nmax_connections_per_client = 2\nmax_connection_rate = 1000\nmax_message_rate = 1000\nmax_recipient_rate = 1000\n';
    prepared = await prepareFacteur({
      users: { postmaster: ['postmaster@example.org'] },
      outbound: true,
      toml: `workers = 2\n${limits}[inbound.aliases]\n"fwd@example.org" = ["alice@example.org", "dave@forward.example"]\n[metrics]\nlisten = "127.0.0.1:0"\n${world.toml('retry_min = "1h"\nretry_max = "2h"\nmta_sts = false')}`,
    });
    usersFile = join(prepared.dir, 'users');
    await writeFile(usersFile, 'alice : alice@example.org\n');
    facteur = await spawnFacteur(prepared.configPath);
    workers = facteur.started.worker_pids as number[];
  });
  after(async () => {
    await facteur?.kill();
    await world?.close();
    await prepared?.cleanup();
  });

  test('two workers, each other than the primary; check-config prints the setting', async () => {
    const checked = await runCli(['check-config', '-c', prepared.configPath]);
    assert.match(checked.stdout, /^workers = 2$/m);
    assert.equal(workers.length, 2);
    assert.ok(!workers.includes(facteur.pid));
    assert.equal(facteur.started.workers, 2);
  });

  test('inbound messages land with the pids of both workers in their Maildir names', async () => {
    for (let i = 0; i < 4; i++) await deliverOne(facteur.port('plain'), `to alice ${i}`);
    inboundSent += 4;
    const names = (await readMail(prepared.maildirRoot, 'alice')).map((m) => m.name);
    assert.equal(names.length, 4);
    assert.deepEqual([...pidsOf(names)].sort(), [...workers].sort());
  });

  test('one /metrics for the whole server: messages accepted by both workers are summed', async () => {
    const text = await (await fetch(`http://${String(facteur.started.metrics)}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('facteur_smtp_messages_total{') && l.includes('server="inbound"') && l.includes('reply="2xx"'));
    assert.ok(line !== undefined, text);
    assert.equal(Number(line.split(' ').pop()), inboundSent);
  });

  test('relayed messages accepted by several workers are each delivered exactly once', async () => {
    const count = 12;
    const finished = new Set<string>();
    const allFinished = facteur.waitForLog((e) => {
      if (e.event === 'finished') finished.add(String(e.id));
      return finished.size === count;
    }, 30_000);
    const submitted = await Promise.all(
      Array.from({ length: count }, (_, i) => submit(facteur.port('outbound'), { from: 'sender@client.example', to: ['bob@example.net'], raw: messageText(`relay-${i}`) })),
    );
    await allFinished;
    assert.deepEqual([...finished].sort(), submitted.map((s) => s.id).sort(), 'each queued id sent and removed');
    const markers = sink.messages.map((m) => /^X-Marker: (.+)$/m.exec(m.body.toString('utf8'))?.[1]?.trim());
    assert.equal(markers.length, count, 'one delivery per message, no more');
    assert.equal(new Set(markers).size, count);
  });

  test('an alias with an outside target, accepted by a worker: the Maildir copy, and the forward sent by the queue', async () => {
    const before = (await readMail(prepared.maildirRoot, 'alice')).length;
    await deliverOne(facteur.port('plain'), 'forwarded by a worker', 'fwd@example.org'); // 250 2.0.0
    inboundSent += 1;
    const [m] = await forwardSink.waitForMessages(1);
    assert.deepEqual(m?.to, ['dave@forward.example']);
    assert.match(m?.from ?? '', /^SRS0=/);
    assert.equal((await readMail(prepared.maildirRoot, 'alice')).length, before + 1);
  });

  test('the queue commands reach the queue through the primary', async () => {
    const attempted = facteur.waitForLog((e) => e.event === 'attempt' && e.outcome === 'deferred');
    const { id } = await submit(facteur.port('outbound'), { from: 'sender@client.example', to: ['x@later.example'], raw: messageText('deferred') });
    await attempted;
    const config = ['-c', prepared.configPath];
    const listed = await runCli(['queue', 'list', ...config, '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    const entries = JSON.parse(listed.stdout) as { id: string; recipients: { status: string }[] }[];
    assert.deepEqual(entries.map((e) => [e.id, e.recipients[0]?.status]), [[id, 'deferred']]);
    assert.equal((await runCli(['queue', 'flush', ...config])).code, 0);
    const deleted = await runCli(['queue', 'delete', ...config, id]);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.deepEqual(JSON.parse((await runCli(['queue', 'list', ...config, '--json'])).stdout), []);
    assert.equal((await runCli(['queue', 'delete', ...config, id])).code, 1);
  });

  test('SIGHUP reloads the users in every worker', async () => {
    await writeFile(usersFile, 'alice : alice@example.org\nbob : bob@example.org\n');
    const reloaded = new Set<number>();
    const all = facteur.waitForLog((e) => {
      if (e.event === 'reloaded') reloaded.add(Number(e.pid));
      return workers.every((p) => reloaded.has(p)) && reloaded.has(facteur.pid);
    });
    facteur.child.kill('SIGHUP');
    await all;
    for (let i = 0; i < 4; i++) await deliverOne(facteur.port('plain'), `to bob ${i}`, 'bob@example.org');
    inboundSent += 4;
    assert.equal((await readMail(prepared.maildirRoot, 'bob')).length, 4);
  });

  test('the per-client connection limit holds across workers', async () => {
    const port = facteur.port('plain');
    const first = await SmtpDialog.connect(port);
    const second = await SmtpDialog.connect(port);
    try {
      await first.expect(220);
      await second.expect(220);
      const third = await SmtpDialog.connect(port);
      try {
        await third.expect(421, '4.7.0');
      } finally {
        third.close();
      }
    } finally {
      for (const d of [first, second]) {
        await d.command('QUIT');
        await d.expect(221);
        d.close();
      }
    }
  });

  test('a killed worker is logged and replaced, and the server keeps serving', async () => {
    const victim = workers[0]!;
    const died = facteur.waitForLog((e) => e.event === 'worker-died' && e.worker_pid === victim);
    const replaced = facteur.waitForLog((e) => e.event === 'worker-ready' && e.worker === 0);
    process.kill(victim, 'SIGKILL');
    const death = await died;
    assert.equal(death.signal, 'SIGKILL');
    const fresh = Number((await replaced).worker_pid);
    assert.notEqual(fresh, victim);
    workers = [fresh, workers[1]!];
    for (let i = 0; i < 3; i++) await deliverOne(facteur.port('plain'), `after the replacement ${i}`);
  });

  test('SIGTERM stops the primary and every worker, exit 0', async () => {
    facteur.child.kill('SIGTERM');
    assert.deepEqual(await facteur.exited, { code: 0, signal: null });
    for (const pid of workers) assert.equal(alive(pid), false, `worker ${pid} ended`);
  });
});
