// The relay signs over real sockets: mail submitted on the relay port and on the submission port (AUTH) arrives at an
// SMTP sink signed with both keys of its From: domain (RSA and Ed25519, each with its own selector), and dkimpy
// (Debian's python3-dkim) verifies the signatures with the public keys served by the loopback DNS, as keygen printed
// them. A retry sends the very bytes of the first attempt; a bounce facteur writes is signed for its host's domain.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeTestKeys, type TestKeys } from '../helpers/dkim.js';
import { dkimpy, DKIMPY_SKIP } from '../helpers/dkimpy.js';
import { submit } from '../helpers/relay.js';
import { sendTransaction } from '../helpers/smtp-dialog.js';
import type { ReceivedMessage } from '../helpers/smtp-peer.js';
import { deliveredOnce, headerOf, loggedIn, REMOTE, startSubmissionWorld, type SubmissionWorld } from '../helpers/submission.js';

const T = { timeout: 30_000 };

/** A message from `from` (CRLF), with the fields a mail client writes; `marker` in the Subject and X-Marker. */
function letter(from: string, to: string, marker: string): string {
  return [
    `From: Alice <${from}>`,
    `To: <${to}>`,
    `Subject: ${marker}   with  spaces`,
    'Date: Tue, 24 Nov 2026 13:14:00 +0000',
    `Message-ID: <${marker}@example.org>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=us-ascii',
    `X-Marker: ${marker}`,
    '',
    'Hello,',
    '.a line dot-stuffed on the wire',
    'trailing spaces   ',
    '',
    '',
  ].join('\r\n');
}

/** The s= tags of the message's DKIM-Signature fields, in order. */
const selectors = (m: ReceivedMessage): string[] => [...headerOf(m).matchAll(/^DKIM-Signature:[^]*?\bs=([^;\s]+)/gm)].map((x) => x[1] as string);

describe('DKIM signing by the relay, verified by dkimpy', { skip: DKIMPY_SKIP }, () => {
  let keys: TestKeys;
  let w: SubmissionWorld;
  let dns: string;
  before(async () => {
    keys = await makeTestKeys([
      ['example.org', 'rsa2026', 'rsa'],
      ['example.org', 'ed2026', 'ed25519'],
    ]);
    // The keys are where `start` looks for them: <data_dir>/dkim/example.org/<selector>.key. The host is in
    // example.org, so that its bounces are signed with example.org's keys.
    w = await startSubmissionWorld({
      toml: [`hostname = "mx.example.org"`, `data_dir = ${JSON.stringify(dirname(keys.keyDir))}`, '[dkim]', 'domains = ["example.org"]'].join('\n'),
    });
    Object.assign(w.relay.zone, keys.txt);
    // Senders of other domains get their bounces at the same sink.
    w.relay.route('client.example', '127.0.0.2');
    dns = w.relay.dns.address;
  });
  after(async () => {
    await w?.close();
    if (keys !== undefined) await rm(dirname(keys.keyDir), { recursive: true, force: true });
  });

  test('relay port: both signatures (rsa-sha256 and ed25519-sha256, d=example.org) verify at the sink', T, async () => {
    await submit(w.facteur.port('outbound'), { from: 'alice@example.org', to: [`r1@${REMOTE}`], raw: letter('alice@example.org', `r1@${REMOTE}`, 'relayed') });
    const m = await deliveredOnce(w, `r1@${REMOTE}`);
    assert.deepEqual(selectors(m).sort(), ['ed2026', 'rsa2026']);
    const verdicts = await dkimpy(dns, m.body);
    assert.deepEqual(verdicts.map((v) => [v.a, v.d, v.s, v.ok, v.why]).sort(), [
      ['ed25519-sha256', 'example.org', 'ed2026', true, ''],
      ['rsa-sha256', 'example.org', 'rsa2026', true, ''],
    ]);
    // From is over-signed: h= names it once more than the message has it.
    for (const field of headerOf(m).split(/\n(?=\S)/).filter((f) => f.startsWith('DKIM-Signature:'))) {
      assert.match(field.replace(/\s+/g, ''), /h=[^;]*[Ff]rom:[^;]*[Ff]rom/);
      assert.match(field.replace(/\s+/g, ''), /c=relaxed\/relaxed/);
      assert.doesNotMatch(field.replace(/\s+/g, ''), /;l=/);
    }
  });

  test('submission port (STARTTLS, AUTH PLAIN): signed too, and both verify', T, async () => {
    const d = await loggedIn(w.facteur, 'alice@example.org');
    const r = await sendTransaction(d, { from: 'alice@example.org', to: [`r2@${REMOTE}`], text: letter('alice@example.org', `r2@${REMOTE}`, 'submitted') });
    assert.equal(r.code, 250, r.lines.join('\n'));
    await d.ask('QUIT');
    const m = await deliveredOnce(w, `r2@${REMOTE}`);
    const verdicts = await dkimpy(dns, m.body);
    assert.deepEqual(verdicts.map((v) => [v.s, v.ok, v.why]).sort(), [
      ['ed2026', true, ''],
      ['rsa2026', true, ''],
    ]);
    assert.match(headerOf(m), /^Received: .*\n\tby mx\.example\.org \(facteur\) with ESMTPSA /m);
  });

  test('a From: domain not in dkim.domains goes out unsigned', T, async () => {
    await submit(w.facteur.port('outbound'), { from: 'someone@client.example', to: [`r3@${REMOTE}`], raw: letter('someone@client.example', `r3@${REMOTE}`, 'unsigned') });
    const m = await deliveredOnce(w, `r3@${REMOTE}`);
    assert.deepEqual(selectors(m), []);
  });

  test('a retry sends the bytes of the first attempt: the signature is made once, before the 250', T, async () => {
    // retry.example's MX reads the first copy whole, then defers it; it takes the second.
    let seen = 0;
    const mx = await w.relay.peer('127.0.0.3', { dataReply: () => (seen++ === 0 ? { code: 451, text: 'try again later' } : undefined) });
    w.relay.route('retry.example', '127.0.0.3');
    const mark = w.facteur.logs().length;
    await submit(w.facteur.port('outbound'), { from: 'alice@example.org', to: ['r@retry.example'], raw: letter('alice@example.org', 'r@retry.example', 'retried') });
    await w.facteur.waitForLog((e) => e.event === 'attempt' && e.outcome === 'deferred' && e.domain === 'retry.example', 15_000, mark);
    w.facteur.app.flushQueue();
    await w.facteur.waitForLog((e) => e.event === 'attempt' && e.outcome === 'sent' && e.domain === 'retry.example', 15_000, mark);
    assert.deepEqual(mx.messages.map((m) => m.code), [451, 250]);
    assert.ok(mx.messages[0]!.body.equals(mx.messages[1]!.body), 'the retry sent other bytes');
    assert.deepEqual((await dkimpy(dns, mx.messages[1]!.body)).map((v) => v.ok), [true, true]);
  });

  test('a bounce from mx.example.org (MAILER-DAEMON) is signed with example.org\'s keys, and verifies', T, async () => {
    // refusing.example's MX has no such user; the bounce goes to client.example's, the sink.
    await w.relay.peer('127.0.0.4', { rcptReply: () => ({ code: 550, text: '5.1.1 no such user' }) });
    w.relay.route('refusing.example', '127.0.0.4');
    const start = w.sink.messages.length;
    const mark = w.facteur.logs().length;
    await submit(w.facteur.port('outbound'), { from: 'sender@client.example', to: ['nobody@refusing.example'], raw: letter('sender@client.example', 'nobody@refusing.example', 'bounced') });
    const bounce = await w.facteur.waitForLog((e) => e.event === 'bounce', 15_000, mark);
    await w.facteur.waitForLog((e) => e.event === 'attempt' && e.id === bounce.id && e.outcome === 'sent', 15_000, mark);
    const m = w.sink.messages.slice(start).find((x) => x.from === '');
    assert.ok(m !== undefined, 'the bounce reached the sink');
    assert.deepEqual(m.to, ['sender@client.example']);
    assert.match(headerOf(m), /^From: MAILER-DAEMON@mx\.example\.org$/m);
    const verdicts = await dkimpy(dns, m.body);
    assert.deepEqual(verdicts.map((v) => [v.d, v.s, v.ok, v.why]).sort(), [
      ['example.org', 'ed2026', true, ''],
      ['example.org', 'rsa2026', true, ''],
    ]);
  });
});
