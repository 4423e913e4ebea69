// outbound.source_ipv4: the relay connects to MX hosts from the configured address (as the peer sees it), so that
// mail leaves from the address with the right PTR record.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startFacteur } from '../helpers/facteur.js';
import { readMail, splitMessage } from '../helpers/maildir.js';
import { messageText, startRelayWorld, submit } from '../helpers/relay.js';

test('the relay sends from outbound.source_ipv4: the MX (facteur on 127.0.0.3) sees 127.0.0.5', async (t) => {
  const world = await startRelayWorld();
  t.after(() => world.close());
  world.route('example.net', '127.0.0.3');
  const b = await startFacteur({
    domains: ['example.net'],
    users: { carol: ['carol@example.net'], postmaster: ['postmaster@example.net'] },
    toml: `hostname = "mx.b.test"\n[inbound]\nlisten = ["127.0.0.3:${world.port}"]`,
  });
  t.after(() => b.stop());
  const a = await startFacteur({ outbound: true, captureLog: true, toml: `hostname = "relay.a.test"\n${world.toml(`source_ipv4 = "127.0.0.5"\naddress_preference = "ipv4"`)}` });
  t.after(() => a.stop());

  const mark = a.logs().length;
  const { id } = await submit(a.port('outbound'), { from: 'sender@client.example', to: ['carol@example.net'], raw: messageText('source', 'Hi\r\n') });
  await a.waitForLog((e) => e.event === 'attempt' && e.id === id && e.outcome === 'sent', 10_000, mark);
  const [file] = await readMail(b.maildirRoot, 'carol');
  assert.match(splitMessage(file!.content).header, /^Received: from relay\.a\.test \(\[127\.0\.0\.5\]\)/m);
});
