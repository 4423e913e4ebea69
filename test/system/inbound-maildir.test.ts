// nodemailer (and raw sockets, for exact bytes) → facteur → one file per mailbox in Maildir new/, as the README describes it.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import nodemailer from 'nodemailer';
import { startFacteur, type Facteur } from '../helpers/facteur.js';
import { listMail, readMail, splitMessage } from '../helpers/maildir.js';
import { sendTransaction, SmtpDialog } from '../helpers/smtp-dialog.js';

/** README, Quick start: seconds, microseconds, pid, counter, host. */
const FILE_NAME = /^\d+\.M\d+P\d+Q\d+\.mx\.test$/;

describe('inbound delivery into Maildir', () => {
  let facteur: Facteur;
  // One mailbox per test, so that each can count its own files.
  before(async () => {
    facteur = await startFacteur({
      users: {
        alice: ['alice@example.org'],
        carol: ['carol@example.org'],
        dave: ['dave@example.org'],
        frank: ['frank@example.org', 'f.smith@example.org'],
        dots: ['dots@example.org'],
        eight: ['eight@example.org'],
        jose: ['jose@example.org'],
        big: ['big@example.org'],
        postmaster: ['postmaster@example.org'],
      },
    });
  });
  after(() => facteur.stop());

  // Plain text on purpose (ignoreTLS): nodemailer would otherwise use STARTTLS, which inbound-tls.test.ts covers.
  const transport = () =>
    nodemailer.createTransport({ host: '127.0.0.1', port: facteur.port('plain'), secure: false, ignoreTLS: true, name: 'client.example' });

  /** EHLO on a fresh raw connection; closed at the end of the test. */
  async function rawSession(t: { after: (fn: () => void) => void }): Promise<SmtpDialog> {
    const d = await SmtpDialog.connect(facteur.port('plain'));
    t.after(() => d.close());
    await d.expect(220);
    await d.command('EHLO client.example');
    await d.expect(250);
    return d;
  }

  test('a message from nodemailer lands as one file in new/, trace headers first, LF line endings', async () => {
    const info = await transport().sendMail({
      from: 'Sender <sender@client.example>',
      to: 'alice@example.org',
      subject: 'first message',
      text: 'Hello Alice,\nsee you.\n',
    });
    assert.deepEqual(info.accepted, ['alice@example.org']);
    assert.match(info.response, /^250 2\.0\.0 /);

    const [file, ...others] = await readMail(facteur.maildirRoot, 'alice');
    assert.ok(file !== undefined && others.length === 0, 'exactly one file in alice/new');
    assert.deepEqual(await listMail(facteur.maildirRoot, 'alice', 'tmp'), [], 'nothing left in tmp/');
    assert.match(file.name, FILE_NAME);
    const text = file.content.toString('utf8');
    assert.ok(!text.includes('\r'), 'no CR in the stored message');
    const lines = text.split('\n');
    assert.equal(lines[0], 'Return-Path: <sender@client.example>');
    assert.match(lines[1] ?? '', /^Received: from client\.example \(\[127\.0\.0\.1\]\)/);
    assert.match(text, /by mx\.test \(facteur\) with ESMTP id /);
    assert.match(text, /\n\tfor <alice@example\.org>; \w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d \+0000\n/);
    assert.match(text, /\nSubject: first message\n/);
    assert.match(text, /\nFrom: Sender <sender@client\.example>\n/);
    assert.ok(text.endsWith('\n\nHello Alice,\nsee you.\n'), text);
  });

  test('recipients in two mailboxes get one copy each, two addresses of one mailbox one copy', async () => {
    const info = await transport().sendMail({
      envelope: { from: 'sender@client.example', to: ['carol@example.org', 'dave@example.org', 'frank@example.org', 'f.smith@example.org', 'FRANK@example.org'] },
      raw: 'Subject: to many\r\nMessage-ID: <many@client.example>\r\n\r\nshared\r\n',
    });
    assert.equal(info.accepted.length, 5);
    for (const mailbox of ['carol', 'dave', 'frank']) {
      const files = await readMail(facteur.maildirRoot, mailbox);
      assert.equal(files.length, 1, `${mailbox} gets exactly one copy`);
      const { body } = splitMessage(files[0]!.content);
      assert.equal(body, 'shared\n');
      assert.ok(!/\tfor </.test(splitMessage(files[0]!.content).header), 'no "for" clause with several recipients');
    }
    const names = [...(await listMail(facteur.maildirRoot, 'carol')), ...(await listMail(facteur.maildirRoot, 'dave'))];
    assert.notEqual(names[0], names[1], 'each copy has its own unique name');
  });

  test('dot-unstuffing: lines starting with dots arrive intact, ".x" is "x" and never the end', async (t) => {
    // Through nodemailer: it stuffs, we un-stuff; the body must come back as written.
    await transport().sendMail({
      envelope: { from: 'sender@client.example', to: ['dots@example.org'] },
      raw: 'Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\n...\r\nend\r\n',
    });
    // Raw bytes: what the wire says after un-stuffing (RFC 5321 §4.5.2), chasquid's reading: ".x" → "x".
    const d = await rawSession(t);
    await d.command('MAIL FROM:<sender@client.example>');
    await d.expect(250);
    await d.command('RCPT TO:<dots@example.org>');
    await d.expect(250);
    await d.command('DATA');
    await d.expect(354);
    await d.send('Subject: raw dots\r\n\r\n.x\r\n..\r\n. \r\n.QUIT\r\nlast\r\n.\r\n');
    await d.expect(250, '2.0.0');

    const bodies = (await readMail(facteur.maildirRoot, 'dots')).map((m) => splitMessage(m.content));
    const byNodemailer = bodies.find((b) => b.header.includes('Subject: dots\n'));
    const byRaw = bodies.find((b) => b.header.includes('Subject: raw dots\n'));
    assert.equal(bodies.length, 2);
    assert.equal(byNodemailer?.body, '.leading dot\n..two dots\n.\n...\nend\n');
    assert.equal(byRaw?.body, 'x\n.\n \nQUIT\nlast\n');
  });

  test('8BITMIME: an 8-bit UTF-8 body is stored byte for byte', async (t) => {
    const d = await rawSession(t);
    const body = 'Grüße aus Köln, café ☕, 日本語\r\nligne 2: àéîõü\r\n';
    const final = await sendTransaction(d, {
      from: 'sender@client.example',
      to: ['eight@example.org'],
      mailParams: 'BODY=8BITMIME',
      text: `Subject: 8bit\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${body}`,
    });
    assert.equal(final.code, 250, final.lines.join(' '));
    const [file] = await readMail(facteur.maildirRoot, 'eight');
    assert.equal(splitMessage(file!.content).body, body.replaceAll('\r\n', '\n'));
  });

  test('SMTPUTF8: nodemailer sends from a UTF-8 address; Return-Path keeps it and Received says UTF8SMTP', async () => {
    // The recipient stays ASCII: the config accepts only ASCII addresses for local users.
    const info = await transport().sendMail({
      from: 'rené@client.example',
      to: 'jose@example.org',
      subject: 'olá',
      text: 'Olá José!\n',
    });
    assert.deepEqual(info.accepted, ['jose@example.org']);
    const [file, ...others] = await readMail(facteur.maildirRoot, 'jose');
    assert.equal(others.length, 0);
    const text = file!.content.toString('utf8');
    assert.ok(text.startsWith('Return-Path: <rené@client.example>\n'), text.slice(0, 80));
    assert.match(text, / with UTF8SMTP id /);
  });

  test('a 5 MB message streamed through nodemailer arrives byte-exact', async () => {
    const { stream, expected } = bigMessage(5 * 1024 * 1024);
    const info = await transport().sendMail({ envelope: { from: 'sender@client.example', to: ['big@example.org'] }, raw: stream });
    assert.deepEqual(info.accepted, ['big@example.org']);
    const [file, ...others] = await readMail(facteur.maildirRoot, 'big');
    assert.equal(others.length, 0);
    const content = file!.content;
    const start = content.length - expected.length;
    assert.ok(start > 0, 'the stored file is at least as long as the message');
    assert.ok(content.subarray(start).equals(expected), 'the message after the trace headers is byte-exact');
    // Before the message: only our trace headers.
    const trace = content.subarray(0, start).toString('utf8');
    for (const line of trace.slice(0, -1).split('\n')) assert.match(line, /^(Return-Path: |Received: |\t)/);
    assert.deepEqual(await listMail(facteur.maildirRoot, 'big', 'tmp'), []);
  });
});

/**
 * About `size` bytes of CRLF text, every 7th line starting with a dot and every line numbered, produced lazily
 * (the test streams it); `expected` is the same text with LF endings, as facteur stores it.
 */
function bigMessage(size: number): { stream: Readable; expected: Buffer } {
  const lines: string[] = ['Subject: big', 'Message-ID: <big@client.example>', ''];
  for (let i = 0, n = 0; n < size; i++) {
    const line = `${i % 7 === 0 ? '.' : ''}${String(i).padStart(8, '0')} ${'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(2)}`;
    lines.push(line);
    n += line.length + 2;
  }
  const expected = Buffer.from(`${lines.join('\n')}\n`);
  let next = 0;
  const stream = new Readable({
    read() {
      // 1000 lines per chunk: a real stream, not one buffer.
      const part = lines.slice(next, next + 1000);
      next += part.length;
      this.push(part.length === 0 ? null : `${part.join('\r\n')}\r\n`);
    },
  });
  return { stream, expected };
}
