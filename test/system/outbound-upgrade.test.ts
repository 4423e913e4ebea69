// A queue left by facteur 0.1 (<id>.json + <id>.eml per message) is delivered by this version after an upgrade.
import assert from 'node:assert/strict';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { encodeState } from '../../src/outbound/queue-file.js';
import { newRecipient, type QueueItem } from '../../src/outbound/queue-item.js';
import { prepareFacteur, spawnFacteur } from '../helpers/facteur.js';
import { startRelayWorld } from '../helpers/relay.js';

/** An item as facteur 0.1 wrote it: its state in <id>.json, the message (LF endings) in <id>.eml. */
async function writeOldItem(queueDir: string, id: string, to: string, text: string, over: Partial<QueueItem['recipients'][number]> = {}): Promise<void> {
  const [local, domain] = to.split('@') as [string, string];
  const item: QueueItem = {
    id,
    from: 'sender@client.example',
    reversePath: { local: 'sender', domain: 'client.example' },
    created: new Date().toISOString(),
    size: Buffer.byteLength(text),
    eightBit: false,
    smtputf8: false,
    recipients: [{ ...newRecipient(to, { local, domain }), ...over }],
  };
  await writeFile(join(queueDir, `${id}.eml`), text, { mode: 0o600 });
  await writeFile(join(queueDir, `${id}.json`), encodeState(item), { mode: 0o600 });
}

test('messages queued by facteur 0.1 (pending and deferred) are delivered once each after the upgrade, and leave nothing', async (t) => {
  const world = await startRelayWorld();
  t.after(() => world.close());
  world.route('upgrade.test', '127.0.0.3');
  const peer = await world.peer('127.0.0.3');
  const prepared = await prepareFacteur({ outbound: true, toml: world.toml() });
  t.after(() => prepared.cleanup());
  const queueDir = join(prepared.dataDir, 'queue');
  await mkdir(queueDir, { recursive: true, mode: 0o700 });
  const pending = 'Subject: queued before the upgrade\nX-Marker: old-pending\n\n.a line starting with a dot\nlast line\n';
  const deferred = 'Subject: deferred before the upgrade\nX-Marker: old-deferred\n\nbody\n';
  await writeOldItem(queueDir, '0mvold0000001abcd', 'one@upgrade.test', pending);
  await writeOldItem(queueDir, '0mvold0000002abcd', 'two@upgrade.test', deferred, {
    status: 'deferred',
    attempts: 1,
    nextAttempt: new Date(Date.now() - 1000).toISOString(),
    lastError: '421 4.3.2 busy',
  });

  const facteur = await spawnFacteur(prepared.configPath);
  t.after(() => facteur.kill());
  let finished = 0;
  await facteur.waitForLog((e) => e.event === 'finished' && ++finished === 2, 15_000);

  const byMarker = new Map(peer.messages.map((m) => [/^X-Marker: (\S+)\r$/m.exec(m.body.toString('utf8'))?.[1] ?? '?', m]));
  assert.equal(peer.messages.length, 2);
  assert.deepEqual(byMarker.get('old-pending')?.to, ['one@upgrade.test']);
  assert.deepEqual(byMarker.get('old-deferred')?.to, ['two@upgrade.test']);
  // Sent as it was stored, in wire form (CRLF; the peer un-stuffs the leading dot).
  assert.equal(byMarker.get('old-pending')?.body.toString('utf8'), pending.replaceAll('\n', '\r\n'));
  assert.deepEqual(await readdir(queueDir), [], 'both items removed, .json and .eml');
});
