// facteur's inbound server with [inbound.rspamd], against Debian's rspamd started by the test: GTUBE is refused
// after the final dot, a clean message is stored with rspamd's headers, "rewrite subject" edits the stored
// Subject and files the message in .Junk/ (skipped, with the reason, where rspamd is not installed).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startFacteur, type Facteur } from '../helpers/facteur.js';
import { listMail, readMail, splitMessage } from '../helpers/maildir.js';
import { RSPAMD_MARKERS, startRspamd } from '../helpers/rspamd.js';

const rspamd = await startRspamd();
const skip = typeof rspamd === 'string' ? rspamd : false;
const GTUBE = 'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X';

describe('inbound with rspamd', { skip }, () => {
  let facteur: Facteur;
  before(async () => {
    if (typeof rspamd === 'string') return;
    facteur = await startFacteur({ toml: `[inbound.rspamd]\nurl = "${rspamd.url}"\ntimeout = "20s"\n` });
  });
  after(async () => {
    await facteur?.stop();
    if (typeof rspamd !== 'string') await rspamd.stop();
  });

  /** One message through the plain listener; the final reply. */
  async function send(subject: string, body: string): Promise<{ code: number; enhanced: string | null }> {
    const d = await facteur.connect();
    try {
      await d.expect(220);
      await d.ask('EHLO client.example.net');
      await d.ask('MAIL FROM:<sender@example.net>');
      await d.ask('RCPT TO:<alice@example.org>');
      await d.command('DATA');
      await d.expect(354);
      await d.send(`From: sender@example.net\r\nTo: alice@example.org\r\nSubject: ${subject}\r\nMessage-ID: <${subject}@example.net>\r\nDate: Thu, 03 Dec 2026 08:00:00 +0000\r\n\r\n${body}\r\n.\r\n`);
      const r = await d.reply();
      await d.ask('QUIT');
      return r;
    } finally {
      d.close();
    }
  }

  test('GTUBE: 550 5.7.1 after the final dot, nothing stored', async () => {
    const r = await send('gtube', GTUBE);
    assert.equal(`${r.code} ${r.enhanced}`, '550 5.7.1');
    assert.deepEqual(await listMail(facteur.maildirRoot, 'alice'), []);
  });

  test('a clean message is stored in the inbox with rspamd\'s headers, after Return-Path and before Received', async () => {
    const r = await send('hello', 'Hello Alice, how are you?');
    assert.equal(r.code, 250);
    const [stored] = await readMail(facteur.maildirRoot, 'alice');
    const { header } = splitMessage(stored!.content);
    assert.match(header, /^Return-Path: <sender@example\.net>\n(X-[A-Za-z-]+: .*\n(\t.*\n)*)*Received: from client\.example\.net/);
    assert.match(header, /\nX-Spamd-Result: default: False/);
    assert.match(header, /\nReceived: from client\.example\.net/);
  });

  test('"rewrite subject": the stored Subject is rspamd\'s, the old one gone, and the message is in .Junk/new/', async () => {
    const r = await send(RSPAMD_MARKERS.rewriteSubject, 'Hello again');
    assert.equal(r.code, 250);
    const [junk] = await readMail(facteur.maildirRoot, join('alice', '.Junk'));
    assert.ok(junk !== undefined, 'nothing in .Junk/new/');
    const { header } = splitMessage(junk.content);
    const subjects = header.split('\n').filter((l) => /^Subject:/i.test(l));
    assert.equal(subjects.length, 1, header);
    assert.notEqual(subjects[0], `Subject: ${RSPAMD_MARKERS.rewriteSubject}`);
    assert.ok(existsSync(join(facteur.maildirRoot, 'alice', '.Junk', 'maildirfolder')));
  });
});
