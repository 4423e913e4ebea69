// Addresses over sockets (README, Addresses): subaddresses into folders, catch-all, aliases, forwards with SRS that
// pass SPF at a verifier, a bounce back through an SRS address, forged SRS and alias loops refused, the relay's local
// recipients expanded too, and `facteur route` / `check-config` through the CLI.
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DnsResolver } from '../../src/dns/dns-resolver.js';
import { nodeStyleResolve } from '../../src/dns/node-style-resolve.js';
import { loadConfig } from '../../src/config/load-config.js';
import { checkSpf } from '../../src/mailauth/spf-check.js';
import { prepareFacteur, runCli, startFacteur, type Facteur } from '../helpers/facteur.js';
import { readMail, splitMessage } from '../helpers/maildir.js';
import { messageText, startRelayWorld, submit, type RelayWorld } from '../helpers/relay.js';
import { SmtpDialog, type DialogReply } from '../helpers/smtp-dialog.js';
import type { SmtpPeer } from '../helpers/smtp-peer.js';

const ALIASES = `
[inbound]
deliver_to_subfolder = true
[inbound.aliases]
"info@example.org" = ["alice@example.org", "bob@example.org"]
"sales@example.org" = ["alice@example.org", "dave@elsewhere.test"]
"loop1@example.org" = ["loop2@example.org"]
"loop2@example.org" = ["loop1@example.org"]
`;

let world: RelayWorld;
let f: Facteur;
/** elsewhere.test's MX (the forward's destination) and client.example's (the original sender's). */
let sink: SmtpPeer;
let origin: SmtpPeer;

before(async () => {
  world = await startRelayWorld();
  world.route('elsewhere.test', '127.0.0.5');
  world.route('client.example', '127.0.0.6');
  // SPF: our domain sends from 127.0.0.9 (outbound.source_ipv4); the original sender's domain from elsewhere.
  world.zone['example.org'] = { TXT: ['v=spf1 ip4:127.0.0.9 -all'] };
  world.zone['client.example'] = { ...world.zone['client.example'], TXT: ['v=spf1 ip4:192.0.2.1 -all'] };
  sink = await world.peer('127.0.0.5');
  origin = await world.peer('127.0.0.6');
  f = await startFacteur({
    outbound: true,
    captureLog: true,
    domains: ['example.org', 'catch.test'],
    users: { alice: ['alice@example.org'], bob: ['bob@example.org'], postmaster: ['postmaster@example.org'], carol: ['@catch.test'] },
    toml: `${world.toml('source_ipv4 = "127.0.0.9"\nretry_min = "200ms"')}\n${ALIASES}`,
  });
  // alice's IMAP client made a folder "shop" (Maildir++ .shop); facteur never makes one for a detail.
  for (const sub of ['new', 'cur', 'tmp']) await mkdir(join(f.maildirRoot, 'alice', '.shop', sub), { recursive: true });
});

after(async () => {
  await f?.stop();
  await world?.close();
});

/** MAIL and RCPTs on the MX, no message: every RCPT's reply. */
async function transaction(from: string, to: readonly string[]): Promise<{ rcpt: DialogReply[] }> {
  const d = await SmtpDialog.connect(f.port('plain'));
  try {
    await d.expect(220);
    await d.ask('EHLO client.example');
    assert.equal((await d.ask(`MAIL FROM:<${from}>`)).code, 250);
    const rcpt: DialogReply[] = [];
    for (const t of to) rcpt.push(await d.ask(`RCPT TO:<${t}>`));
    await d.ask('QUIT');
    return { rcpt };
  } finally {
    d.close();
  }
}

/** The same, with the message sent: DATA's final reply. */
async function deliver(from: string, to: readonly string[], subject: string): Promise<{ rcpt: DialogReply[]; data: DialogReply }> {
  const d = await SmtpDialog.connect(f.port('plain'));
  try {
    await d.expect(220);
    await d.ask('EHLO client.example');
    assert.equal((await d.ask(`MAIL FROM:<${from}>`)).code, 250);
    const rcpt: DialogReply[] = [];
    for (const t of to) rcpt.push(await d.ask(`RCPT TO:<${t}>`));
    assert.equal((await d.ask('DATA')).code, 354);
    await d.send(`From: <${from || 'mailer-daemon@client.example'}>\r\nSubject: ${subject}\r\nX-Marker: ${subject}\r\n\r\nHello.\r\n.\r\n`);
    const data = await d.reply();
    await d.ask('QUIT');
    return { rcpt, data };
  } finally {
    d.close();
  }
}

const subjects = async (mailbox: string): Promise<string[]> =>
  (await readMail(f.maildirRoot, mailbox)).map((m) => /^Subject: (.*)$/m.exec(splitMessage(m.content).header)?.[1] ?? '?');

test('subaddress into an existing folder, or the inbox; catch-all; an alias gives each mailbox one copy', async () => {
  const { rcpt, data } = await deliver('s@client.example', ['alice+shop@example.org', 'alice+nosuch@example.org', 'anyone@catch.test', 'info@example.org'], 'rules');
  assert.deepEqual(rcpt.map((r) => r.code), [250, 250, 250, 250]);
  assert.equal(data.code, 250, JSON.stringify(data));
  // alice is reached three ways: one copy, in the folder of the first recipient that named her.
  assert.deepEqual(await subjects('alice/.shop'), ['rules']);
  assert.deepEqual(await subjects('alice'), []);
  assert.deepEqual(await subjects('carol'), ['rules']);
  assert.deepEqual(await subjects('bob'), ['rules']);
  // alice+nosuch alone: the inbox, and no folder made.
  assert.equal((await deliver('s@client.example', ['alice+nosuch@example.org'], 'inbox')).data.code, 250);
  assert.deepEqual(await subjects('alice'), ['inbox']);
  assert.deepEqual(await readMail(f.maildirRoot, 'alice/.nosuch'), []);
});

test('a forward leaves with an SRS reverse-path that passes SPF; the bounce to it reaches the original sender', async () => {
  const { data } = await deliver('sender@client.example', ['sales@example.org'], 'forwarded');
  assert.equal(data.code, 250);
  assert.ok((await subjects('alice')).includes('forwarded'));
  const [m] = await sink.waitForMessages(1);
  assert.ok(m !== undefined);
  assert.match(m.from, /^SRS0=[A-Za-z0-9+/]{4}=[A-Z2-7]{2}=client\.example=sender@example\.org$/);
  assert.deepEqual(m.to, ['dave@elsewhere.test']);
  assert.match(m.body.toString(), /\r\nX-Marker: forwarded\r\n/);
  assert.match(m.body.toString(), /^Received: from client\.example \(\[127\.0\.0\.1\]\)\r\n\tby mx\.test \(facteur\)/);

  // A verifier at the final receiver: SPF passes for the SRS sender, where it fails for the original one.
  const resolve = nodeStyleResolve(new DnsResolver({ servers: [world.dns.address] }));
  assert.equal(m.remoteAddress, '127.0.0.9');
  const facts = { ip: m.remoteAddress, helo: 'mx.test', mailFrom: m.from, hostname: 'verifier.test' };
  assert.equal((await checkSpf(resolve, facts, m.from)).result, 'pass');
  assert.equal((await checkSpf(resolve, facts, 'sender@client.example')).result, 'fail');

  // The final receiver bounces: <> to the SRS address, which goes on to sender@client.example.
  const bounce = await deliver('', [m.from], 'bounce');
  assert.equal(bounce.rcpt[0]?.code, 250, JSON.stringify(bounce.rcpt));
  assert.equal(bounce.data.code, 250);
  const [back] = await origin.waitForMessages(1);
  assert.equal(back?.from, '');
  assert.deepEqual(back?.to, ['sender@client.example']);
  assert.match(back?.body.toString() ?? '', /\r\nX-Marker: bounce\r\n/);
});

test('a forged SRS address is refused with a log line; an alias loop with a clear error', async () => {
  const mark = f.logs().length;
  const { rcpt } = await transaction('', ['SRS0=AAAA=AA=client.example=sender@example.org', 'loop1@example.org', 'nobody@example.org']);
  assert.equal(rcpt[0]?.code, 550);
  assert.equal(rcpt[0]?.enhanced, '5.7.1');
  assert.match(rcpt[0]!.lines[0]!, /Invalid SRS address/);
  const logged = await f.waitForLog((e) => e.event === 'srs-refused', 5000, mark);
  assert.equal(logged.reason, 'hash');
  assert.equal(rcpt[1]?.code, 550);
  assert.equal(rcpt[1]?.enhanced, '5.4.6');
  assert.match(rcpt[1]!.lines[0]!, /Alias loop: loop1@example\.org -> loop2@example\.org -> loop1@example\.org/);
  assert.equal(rcpt[2]?.enhanced, '5.1.1');
});

test('a local program\'s mail to an alias, through the relay, expands as inbound mail does', async () => {
  const mark = f.logs().length;
  const { id } = await submit(f.port('outbound'), { from: 'app@example.org', to: ['info@example.org'], raw: messageText('from-relay') });
  await f.waitForLog((e) => e.event === 'attempt' && e.id === id && e.outcome === 'sent', 10_000, mark);
  assert.ok((await subjects('bob')).includes('from-relay'));
  assert.ok((await subjects('alice')).includes('from-relay'));
});

test('facteur route: the tree, the forward with its SRS sender, and refusals (exit 1)', async () => {
  const file = f.config.file!;
  const ok = await runCli(['route', 'sales@example.org', '--from', 'sender@client.example', '-c', file]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^sales@example\.org -> alias sales@example\.org\n  alice@example\.org -> mailbox alice\n  dave@elsewhere\.test -> forward/);
  assert.match(ok.stdout, /^mailbox alice: inbox$/m);
  assert.match(ok.stdout, /^forward to dave@elsewhere\.test through the relay's queue, from <SRS0=[^=]{4}=[A-Z2-7]{2}=client\.example=sender@example\.org>$/m);
  const shop = await runCli(['route', 'alice+shop@example.org', '-c', file]);
  assert.match(shop.stdout, /subaddress of mailbox alice: folder \.shop/);
  const refused = await runCli(['route', 'loop1@example.org', '-c', file]);
  assert.equal(refused.code, 1);
  assert.match(refused.stdout, /^loop1@example\.org: refused: 550 5\.4\.6 Alias loop/);
  const relaying = await runCli(['route', 'x@elsewhere.test', '-c', file]);
  assert.equal(relaying.code, 1);
  assert.match(relaying.stdout, /550 5\.7\.1 Relaying denied/);
});

test('check-config: an alias that leads nowhere, a loop, and a forward without the relay', async (t) => {
  const bad = await prepareFacteur({
    toml: '[inbound.aliases]\n"team@example.org" = ["alice@example.org", "ghost@example.org"]\n"l1@example.org" = ["l2@example.org"]\n"l2@example.org" = ["l1@example.org"]\n',
  });
  t.after(() => bad.cleanup());
  const r = await runCli(['check-config', '-c', bad.configPath]);
  assert.equal(r.code, 2, r.stdout);
  assert.match(r.stderr, /: inbound\.aliases\."team@example\.org": team@example\.org: target ghost@example\.org leads to no mailbox/);
  assert.match(r.stderr, /: inbound\.aliases\."l1@example\.org": l1@example\.org: 550 5\.4\.6 Alias loop/);
  const noRelay = await prepareFacteur({ toml: '[inbound.aliases]\n"out@example.org" = ["dave@elsewhere.test"]\n' });
  t.after(() => noRelay.cleanup());
  const r2 = await runCli(['check-config', '-c', noRelay.configPath]);
  assert.equal(r2.code, 2);
  assert.match(r2.stderr, /: inbound\.aliases\."out@example\.org": forwards to dave@elsewhere\.test, which needs the outbound relay/);
});

test('SIGHUP: aliases as reloaded, and an alias problem said in the log', async () => {
  const file = f.config.file!;
  const toml = await readFile(file, 'utf8');
  await writeFile(file, toml.replace('[inbound.aliases]', '[inbound.aliases]\n"new@example.org" = ["bob@example.org", "ghost@example.org"]'));
  const mark = f.logs().length;
  await f.app.reload(await loadConfig(file));
  const warned = await f.waitForLog((e) => e.event === 'alias-problem', 5000, mark);
  assert.match(String(warned.problem), /target ghost@example\.org leads to no mailbox/);
  const { data } = await deliver('s@client.example', ['new@example.org'], 'after-reload');
  assert.equal(data.code, 250);
  assert.ok((await subjects('bob')).includes('after-reload'));
});
