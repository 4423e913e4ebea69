// The MX server with inbound.verify = true, its lookups answered by a DNS server on loopback and its clients on
// 127.0.0.1 (SPF is evaluated for that address): what is stored, where, with which Authentication-Results, and what
// is refused. The test messages are signed with the signer module and sent by nodemailer or a raw SMTP dialog.
import assert from 'node:assert/strict';
import { rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import nodemailer from 'nodemailer';
import { DkimSigner } from '../../src/mailauth/dkim-signer.js';
import { makeTestKeys, type TestKeys } from '../helpers/dkim.js';
import { startDnsServer, type DnsServer, type ZoneEntry } from '../helpers/dns-server.js';
import { startFacteur, type Facteur } from '../helpers/facteur.js';
import { listMail, readMail, splitMessage } from '../helpers/maildir.js';
import { sendTransaction } from '../helpers/smtp-dialog.js';

const T = { timeout: 30_000 };
const HELO = 'client.sender.example';

const ZONE: Record<string, ZoneEntry> = {
  // A sender that does everything right: SPF names the test client, DKIM keys (added below), p=reject.
  'sender.example': { TXT: ['v=spf1 ip4:127.0.0.1 -all'] },
  '_dmarc.sender.example': { TXT: ['v=DMARC1; p=reject'] },
  [HELO]: { A: ['127.0.0.1'], TXT: ['v=spf1 a -all'] },
  // The forger's own domain: its SPF passes for the test client, but it is not the From: domain.
  'attacker.example': { TXT: ['v=spf1 ip4:127.0.0.0/8 -all'] },
  'bank.example': { TXT: ['v=spf1 -all'] },
  '_dmarc.bank.example': { TXT: ['v=DMARC1; p=reject'] },
  'shop.example': { TXT: ['v=spf1 -all'] },
  '_dmarc.shop.example': { TXT: ['v=DMARC1; p=quarantine'] },
  // A domain whose name servers fail, and which publishes p=reject: its mail must not be refused for that.
  'flaky.example': { servfail: true },
  '_dmarc.flaky.example': { TXT: ['v=DMARC1; p=reject'] },
};

/** A message (LF line endings) from `from` to alice, with `extra` header fields first. */
function letter(from: string, subject: string, extra: readonly string[] = []): string {
  return [
    ...extra,
    `From: ${from}`,
    'To: Alice <alice@example.org>',
    `Subject: ${subject}`,
    'Date: Tue, 24 Nov 2026 13:14:00 +0000',
    `Message-ID: <${subject.replace(/\W+/g, '.')}@sender.example>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    'Hello Alice,',
    '.this line is dot-stuffed on the wire',
    '',
  ].join('\n');
}

const crlf = (s: string): string => s.replace(/\n/g, '\r\n');

/** The header fields of a stored message, folded lines kept with their field. */
const fieldsOf = (content: Buffer): string[] => splitMessage(content).header.replace(/\n$/, '').split(/\n(?=\S)/);

describe('inbound checks over sockets (inbound.verify = true)', () => {
  let dns: DnsServer;
  let keys: TestKeys;
  let signer: DkimSigner;
  let f: Facteur;
  let report: Facteur;
  before(async () => {
    keys = await makeTestKeys([
      ['sender.example', 'rsa1', 'rsa'],
      ['sender.example', 'ed1', 'ed25519'],
    ]);
    signer = new DkimSigner({ keys: keys.keys });
    dns = await startDnsServer({ ...ZONE, ...keys.txt });
    const toml = (policy: string) => [`dns_servers = ["${dns.address}"]`, '[inbound]', 'verify = true', `dmarc_policy = "${policy}"`].join('\n');
    f = await startFacteur({ toml: toml('enforce'), captureLog: true });
    report = await startFacteur({ toml: toml('report') });
  });
  after(async () => {
    await f?.stop();
    await report?.stop();
    await dns?.close();
    if (keys !== undefined) await rm(dirname(keys.keyDir), { recursive: true, force: true });
  });

  /** The message with its DKIM-Signature fields on top (both keys of sender.example), CRLF. */
  async function signed(text: string): Promise<string> {
    const r = await signer.sign(Buffer.from(text), 'sender.example');
    assert.equal(r.domain, 'sender.example');
    return crlf(r.fields + text);
  }

  /** One transaction on a raw dialog (EHLO HELO); the final reply. */
  async function send(server: Facteur, from: string, text: string) {
    const d = await server.connect('plain');
    await d.expect(220);
    await d.ask(`EHLO ${HELO}`);
    const reply = await sendTransaction(d, { from, to: ['alice@example.org'], text });
    await d.ask('QUIT');
    return reply;
  }

  test('a signed message from an SPF-authorised address: spf=pass dkim=pass dmarc=pass, right after Return-Path', T, async () => {
    const before = await listMail(f.maildirRoot, 'alice');
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: f.port('plain'), secure: false, ignoreTLS: true, name: HELO });
    try {
      const info = await transport.sendMail({ envelope: { from: 'alice@sender.example', to: ['alice@example.org'] }, raw: await signed(letter('Alice <alice@sender.example>', 'all good')) });
      assert.match(info.response, /^250 /);
    } finally {
      transport.close();
    }
    const files = (await readMail(f.maildirRoot, 'alice')).filter((m) => !before.includes(m.name));
    assert.equal(files.length, 1);
    const fields = fieldsOf(files[0]!.content);
    assert.equal(fields[0], 'Return-Path: <alice@sender.example>');
    const ar = fields[1]!;
    assert.match(ar, /^Authentication-Results: mx\.test;\n /);
    assert.match(ar, /\bspf=pass \(mx\.test: domain of alice@sender\.example designates 127\.0\.0\.1 as permitted sender\) smtp\.mailfrom=alice@sender\.example;/);
    assert.match(ar, /\bspf=pass [^;]*smtp\.helo=client\.sender\.example;/);
    assert.match(ar, /\bdkim=pass [^;]*header\.d=sender\.example header\.s=rsa1 header\.a=rsa-sha256/);
    assert.match(ar, /\bdkim=pass [^;]*header\.d=sender\.example header\.s=ed1 header\.a=ed25519-sha256/);
    assert.match(ar, /\bdmarc=pass [^;]*header\.from=sender\.example;/);
    assert.match(ar, /\barc=none$/);
    assert.match(fields[2]!, /^Received: from client\.sender\.example \(\[127\.0\.0\.1\]\)/);
    assert.equal(fields.filter((x) => x.startsWith('Authentication-Results:')).length, 1);
    assert.match(splitMessage(files[0]!.content).body, /^Hello Alice,\n\.this line is dot-stuffed on the wire\n$/);
    const line = await f.waitForLog((e) => e.event === 'auth-results', 5000, 0);
    assert.match(String(line.results), /^spf=pass dkim=pass,pass dmarc=pass arc=none$/);
  });

  test('a forged From: of a p=reject domain gets 550 5.7.1 naming DMARC, and nothing is stored', T, async () => {
    const before = { new: await listMail(f.maildirRoot, 'alice'), tmp: await listMail(f.maildirRoot, 'alice', 'tmp') };
    const r = await send(f, 'mallory@attacker.example', crlf(letter('Your Bank <security@bank.example>', 'verify your account')));
    assert.equal(r.code, 550, r.lines.join('\n'));
    assert.equal(r.enhanced, '5.7.1');
    assert.match(r.lines.join('\n'), /DMARC.*bank\.example/);
    assert.deepEqual(await listMail(f.maildirRoot, 'alice'), before.new);
    assert.deepEqual(await listMail(f.maildirRoot, 'alice', 'tmp'), before.tmp);
    assert.deepEqual(await listMail(join(f.maildirRoot, 'alice'), '.Junk'), []);
  });

  test('a forged From: of a p=quarantine domain lands in .Junk/new/ (a Maildir++ folder), not in the inbox', T, async () => {
    const before = await listMail(f.maildirRoot, 'alice');
    const r = await send(f, 'mallory@attacker.example', crlf(letter('Shop <orders@shop.example>', 'your parcel')));
    assert.equal(r.code, 250, r.lines.join('\n'));
    assert.deepEqual(await listMail(f.maildirRoot, 'alice'), before);
    const junk = await readMail(join(f.maildirRoot, 'alice'), '.Junk');
    assert.equal(junk.length, 1);
    assert.ok((await stat(join(f.maildirRoot, 'alice', '.Junk', 'maildirfolder'))).isFile());
    for (const sub of ['tmp', 'cur']) assert.ok((await stat(join(f.maildirRoot, 'alice', '.Junk', sub))).isDirectory());
    const fields = fieldsOf(junk[0]!.content);
    assert.equal(fields[0], 'Return-Path: <mallory@attacker.example>');
    assert.match(fields[1]!, /^Authentication-Results: mx\.test;/);
    assert.match(fields[1]!, /\bspf=pass [^;]*smtp\.mailfrom=mallory@attacker\.example;/);
    assert.match(fields[1]!, /\bdmarc=fail \([^)]*to the Junk folder\) header\.from=shop\.example;/);
  });

  test('Authentication-Results fields that claim our name are removed (folded, quoted); another host\'s stays', T, async () => {
    const before = await listMail(f.maildirRoot, 'alice');
    const forged = [
      'Authentication-Results: mx.test; dkim=pass header.d=bank.example',
      'Authentication-Results: MX.TEST;',
      '\tdmarc=pass header.from=bank.example',
      'Authentication-Results: "mx.test"; spf=pass smtp.mailfrom=bank.example',
      'Authentication-Results: relay.other.example; spf=pass smtp.mailfrom=alice@sender.example',
    ];
    const r = await send(f, 'alice@sender.example', await signed(letter('Alice <alice@sender.example>', 'with forged results', forged)));
    assert.equal(r.code, 250, r.lines.join('\n'));
    const files = (await readMail(f.maildirRoot, 'alice')).filter((m) => !before.includes(m.name));
    assert.equal(files.length, 1);
    const text = files[0]!.content.toString('utf8');
    assert.doesNotMatch(text, /bank\.example/);
    const ars = fieldsOf(files[0]!.content).filter((x) => /^Authentication-Results:/i.test(x));
    assert.equal(ars.length, 2, ars.join('\n'));
    assert.match(ars[0]!, /^Authentication-Results: mx\.test;\n spf=pass/);
    assert.match(ars[0]!, /\bdkim=pass [^;]*header\.s=rsa1/);
    assert.equal(ars[1], 'Authentication-Results: relay.other.example; spf=pass smtp.mailfrom=alice@sender.example');
  });

  test('SERVFAIL from the sender\'s name servers: temperror in the header, and the message is accepted', T, async () => {
    const before = await listMail(f.maildirRoot, 'alice');
    const r = await send(f, 'bob@flaky.example', crlf(letter('Bob <bob@flaky.example>', 'flaky dns')));
    assert.equal(r.code, 250, r.lines.join('\n'));
    const files = (await readMail(f.maildirRoot, 'alice')).filter((m) => !before.includes(m.name));
    assert.equal(files.length, 1);
    const ar = fieldsOf(files[0]!.content)[1]!;
    assert.match(ar, /^Authentication-Results: mx\.test;/);
    assert.match(ar, /\bspf=temperror [^;]*smtp\.mailfrom=bob@flaky\.example;/);
    assert.match(ar, /\bdmarc=temperror \([^)]*\) header\.from=flaky\.example;/);
  });

  test('dmarc_policy = "report": the p=reject forgery is stored in the inbox, its failure recorded', T, async () => {
    const r = await send(report, 'mallory@attacker.example', crlf(letter('Your Bank <security@bank.example>', 'verify your account')));
    assert.equal(r.code, 250, r.lines.join('\n'));
    const files = await readMail(report.maildirRoot, 'alice');
    assert.equal(files.length, 1);
    const fields = fieldsOf(files[0]!.content);
    assert.equal(fields[0], 'Return-Path: <mallory@attacker.example>');
    assert.match(fields[1]!, /\bdmarc=fail \([^)]*policy reject, report only\) header\.from=bank\.example;/);
    assert.deepEqual(await listMail(join(report.maildirRoot, 'alice'), '.Junk'), []);
  });
});
