// The queue survives SIGKILL: 50 acknowledged messages are all listed while the server is down and each delivered once after a restart.
import assert from 'node:assert/strict';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { encodeState } from '../../src/outbound/queue-file.js';
import { newRecipient, type QueueItem } from '../../src/outbound/queue-item.js';
import { prepareFacteur, runCli, spawnFacteur } from '../helpers/facteur.js';
import { messageText, startRelayWorld } from '../helpers/relay.js';
import { sendTransaction, SmtpDialog } from '../helpers/smtp-dialog.js';

const MESSAGES = 50;

test('SIGKILL with 50 messages queued: all listed while down, each delivered exactly once after the restart, leftovers cleaned', async (t) => {
  const world = await startRelayWorld();
  t.after(() => world.close());
  // Nothing listens on 127.0.0.2 yet: every attempt is refused and the messages stay queued, retried every second.
  world.route('crash.test', '127.0.0.2');
  const prepared = await prepareFacteur({
    outbound: true,
    toml: world.toml('retry_min = "1s"\nretry_max = "1s"\nconcurrency_per_domain = 10'),
  });
  t.after(() => prepared.cleanup());
  const first = await spawnFacteur(prepared.configPath);
  t.after(() => first.kill());

  const acked: string[] = [];
  const d = await SmtpDialog.connect(first.port('outbound'));
  try {
    await d.expect(220);
    await d.command('EHLO client.example');
    await d.expect(250);
    for (let n = 0; n < MESSAGES; n++) {
      const final = await sendTransaction(d, { from: 'sender@client.example', to: [`rcpt${n}@crash.test`], text: messageText(`crash-${n}`) });
      assert.equal(final.code, 250, final.lines.join(' '));
      const id = /^250 2\.0\.0 Ok: queued as ([A-Za-z0-9]+)$/.exec(final.lines[0] ?? '')?.[1];
      assert.ok(id !== undefined, final.lines.join(' '));
      acked.push(id);
    }
  } finally {
    d.close();
  }
  await first.kill();
  assert.equal((await first.exited).signal, 'SIGKILL');

  // The server is down: the CLI reads the files.
  const down = await runCli(['queue', 'list', '--json', '-c', prepared.configPath]);
  assert.equal(down.code, 0, down.stderr);
  const listed = JSON.parse(down.stdout) as { id: string; recipients: { address: string }[] }[];
  assert.deepEqual(listed.map((e) => e.id).sort(), [...acked].sort());
  assert.deepEqual(listed.map((e) => e.recipients.map((r) => r.address)).flat().sort(), acked.map((_, n) => `rcpt${n}@crash.test`).sort());

  // On disk: one <id>.msg per acknowledged message (and an <id>.json for those already tried), nothing else
  // but the tmp file of a state write the kill may have interrupted.
  const queueDir = join(prepared.dataDir, 'queue');
  const files = await readdir(queueDir);
  for (const id of acked) assert.ok(files.includes(`${id}.msg`), `${id}.msg is on disk`);
  for (const f of files) assert.match(f, /^[A-Za-z0-9]+\.(msg|json)(\.[0-9a-f]+\.tmp)?$/);
  assert.ok(files.every((f) => !f.endsWith('.json') || acked.includes(f.slice(0, -'.json'.length))), files.join(' '));

  // Leftovers of writes interrupted by a crash: a message never committed (tmp), a half-written state file, a body
  // without its envelope (facteur 0.1), and the state file of an item whose removal was cut short (its .msg went
  // first): none of them may be delivered, and none may stay.
  await writeFile(join(queueDir, '0zzzzzzzzstray1.eml'), 'Subject: never acknowledged\n\nhalf a message\n');
  await writeFile(join(queueDir, '0zzzzzzzzstray2.msg.0123456789ab.tmp'), '{"v":1}\nSubject: half written\n');
  await writeFile(join(queueDir, `${acked[0]}.json.ba9876543210.tmp`), '{"id": "half a state fi');
  const ghost: QueueItem = {
    id: '0zzzzzzzzstray3',
    from: 'sender@client.example',
    reversePath: { local: 'sender', domain: 'client.example' },
    created: new Date().toISOString(),
    size: 10,
    eightBit: false,
    smtputf8: false,
    recipients: [newRecipient('ghost@crash.test', { local: 'ghost', domain: 'crash.test' })],
  };
  await writeFile(join(queueDir, `${ghost.id}.json`), encodeState(ghost));

  const peer = await world.peer('127.0.0.2');
  const second = await spawnFacteur(prepared.configPath);
  t.after(() => second.kill());
  let finishedCount = 0;
  await second.waitForLog((e) => e.event === 'finished' && ++finishedCount === MESSAGES, 15_000);

  const markers = new Map<string, number>();
  for (const m of peer.messages) {
    const marker = /^X-Marker: (crash-\d+)\r$/m.exec(m.body.toString('utf8'))?.[1] ?? '?';
    markers.set(marker, (markers.get(marker) ?? 0) + 1);
  }
  assert.equal(markers.size, MESSAGES, `unique markers: ${[...markers.keys()].join(' ')}`);
  for (const [marker, count] of markers) assert.equal(count, 1, `${marker} delivered ${count} times`);
  assert.ok(peer.messages.every((m) => m.code === 250));

  const up = await runCli(['queue', 'list', '--json', '-c', prepared.configPath]);
  assert.equal(up.code, 0, up.stderr);
  assert.deepEqual(JSON.parse(up.stdout), []);
  assert.ok(peer.messages.every((m) => !m.to.some((to) => to.startsWith('ghost@'))), 'the lone state file was not delivered');
  assert.deepEqual(await readdir(queueDir), [], 'no message, no stray body or state file, no temporary file left');
});
