// End to end: facteur A's relay finds example.net's MX through DNS and hands the message over STARTTLS to facteur B, which stores it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startFacteur } from '../helpers/facteur.js';
import { readMail, splitMessage } from '../helpers/maildir.js';
import { messageText, startRelayWorld, submit } from '../helpers/relay.js';

test('A (relay) → DNS MX → B (inbound on 127.0.0.3) → carol\'s Maildir, over STARTTLS, with both Received headers', async (t) => {
  const world = await startRelayWorld();
  t.after(() => world.close());
  world.route('example.net', '127.0.0.3');

  // B: an MX for example.net, on the port A dials; STARTTLS offered with its own self-signed certificate.
  const b = await startFacteur({
    domains: ['example.net'],
    users: { carol: ['carol@example.net'], postmaster: ['postmaster@example.net'] },
    toml: `hostname = "mx.b.test"\n[inbound]\nlisten = ["127.0.0.3:${world.port}"]`,
  });
  t.after(() => b.stop());
  const a = await startFacteur({ outbound: true, captureLog: true, toml: `hostname = "relay.a.test"\n${world.toml()}` });
  t.after(() => a.stop());

  const mark = a.logs().length;
  const body = 'Hello Carol,\r\n.a dotted line\r\nfrom A through B.\r\n';
  const { id } = await submit(a.port('outbound'), { from: 'sender@client.example', to: ['carol@example.net'], raw: messageText('e2e', body) });
  // B answers 250 only once the file is in new/, so A's "sent" means it is there.
  const sent = await a.waitForLog((e) => e.event === 'attempt' && e.id === id && e.outcome === 'sent', 10_000, mark);
  assert.equal(sent.relay, 'mx.example.net');
  assert.equal(sent.ip, '127.0.0.3');
  assert.match(String(sent.tls), /^TLSv1\.[23]$/);

  const files = await readMail(b.maildirRoot, 'carol');
  assert.equal(files.length, 1);
  const { header, body: stored } = splitMessage(files[0]!.content);
  const received = header.split(/\n(?=\S)/).filter((f) => f.startsWith('Received:'));
  assert.equal(received.length, 2, header);
  // B's on top (RFC 5321 §4.4: each hop prepends its own), in TLS; then A's, from the plain-text submission.
  assert.match(received[0]!, /^Received: from relay\.a\.test \(\[[0-9.]+\]\)\n\tby mx\.b\.test \(facteur\) with ESMTPS id \S+\n\t\(version=TLSv1\.[23] cipher=/);
  assert.match(received[0]!, /for <carol@example\.net>;/);
  assert.match(received[1]!, /^Received: from client\.example \(\[127\.0\.0\.1\]\)\n\tby relay\.a\.test \(facteur\) with ESMTP id /);
  assert.match(header, /^Return-Path: <sender@client\.example>\nReceived: from relay\.a\.test/);
  assert.match(header, /\nX-Marker: e2e\n/);
  assert.equal(stored, 'Hello Carol,\n.a dotted line\nfrom A through B.\n');
});
