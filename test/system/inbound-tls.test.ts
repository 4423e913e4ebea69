// TLS on the inbound server: STARTTLS (RFC 3207) and implicit TLS (RFC 8314), with the self-signed certificate made at start.
import assert from 'node:assert/strict';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import nodemailer from 'nodemailer';
import { startFacteur, type Facteur } from '../helpers/facteur.js';
import { readMail } from '../helpers/maildir.js';
import { SmtpDialog } from '../helpers/smtp-dialog.js';

describe('inbound TLS', () => {
  let facteur: Facteur;
  before(async () => {
    facteur = await startFacteur({ users: { alice: ['alice@example.org'], bob: ['bob@example.org'], postmaster: ['postmaster@example.org'] } });
  });
  after(() => facteur.stop());

  test('STARTTLS with nodemailer (requireTLS): delivered, and the Received header says ESMTPS and the TLS version', async () => {
    const transport = nodemailer.createTransport({
      host: '127.0.0.1',
      port: facteur.port('plain'),
      secure: false,
      requireTLS: true,
      name: 'client.example',
      tls: { rejectUnauthorized: false },
    });
    const info = await transport.sendMail({ from: 'sender@client.example', to: 'alice@example.org', subject: 'over STARTTLS', text: 'secret\n' });
    assert.deepEqual(info.accepted, ['alice@example.org']);
    const [file, ...others] = await readMail(facteur.maildirRoot, 'alice');
    assert.equal(others.length, 0);
    const text = file!.content.toString('utf8');
    assert.match(text, /\n\tby mx\.test \(facteur\) with ESMTPS id /);
    assert.match(text, /\(version=TLSv1\.[23] cipher=[A-Z0-9_-]+\)/);
  });

  test('implicit TLS on the listen_tls port (nodemailer secure: true)', async () => {
    const transport = nodemailer.createTransport({
      host: '127.0.0.1',
      port: facteur.port('tls'),
      secure: true,
      name: 'client.example',
      tls: { rejectUnauthorized: false },
    });
    const info = await transport.sendMail({ from: 'sender@client.example', to: 'bob@example.org', subject: 'over TLS', text: 'secret\n' });
    assert.deepEqual(info.accepted, ['bob@example.org']);
    const [file] = await readMail(facteur.maildirRoot, 'bob');
    assert.match(file!.content.toString('utf8'), / with ESMTPS id /);
  });

  test('the certificate is for the configured hostname', async () => {
    const d = await SmtpDialog.connect(facteur.port('tls'), '127.0.0.1', { tls: true });
    try {
      const cert = (d.socket as TLSSocket).getPeerCertificate();
      assert.match(`${cert.subject?.CN ?? ''} ${cert.subjectaltname ?? ''}`, /mx\.test/);
      await d.expect(220);
    } finally {
      d.close();
    }
  });

  test('after STARTTLS: no STARTTLS in the EHLO list, and the session starts over (MAIL before EHLO is 503)', async (t) => {
    const d = await SmtpDialog.connect(facteur.port('plain'));
    t.after(() => d.close());
    await d.expect(220);
    await d.command('EHLO client.example');
    const before = await d.expect(250);
    assert.ok(before.lines.some((l) => l.slice(4) === 'STARTTLS'), 'STARTTLS offered in plain text');
    await d.command('STARTTLS');
    await d.expect(220, '2.0.0');
    await d.startTls();
    // RFC 3207 §4.2: the client must start over with EHLO; no greeting comes after the handshake.
    await d.command('MAIL FROM:<sender@client.example>');
    await d.expect(503, '5.5.1');
    await d.command('EHLO client.example');
    const afterTls = await d.expect(250);
    assert.ok(!afterTls.lines.some((l) => l.slice(4).startsWith('STARTTLS')), `no STARTTLS once in TLS: ${afterTls.lines.join(' | ')}`);
    await d.command('STARTTLS');
    await d.expect(503, '5.5.1');
    await d.command('MAIL FROM:<sender@client.example>');
    await d.expect(250, '2.1.0');
  });

  test('STARTTLS injection (CVE-2011-0411): plaintext pipelined behind STARTTLS is never answered inside TLS', async (t) => {
    const d = await SmtpDialog.connect(facteur.port('plain'));
    t.after(() => d.close());
    await d.expect(220);
    await d.command('EHLO client.example');
    await d.expect(250);
    // A man in the middle appends a command to the client's STARTTLS, in the same packet.
    await d.send('STARTTLS\r\nRSET\r\n');
    await d.expect(220, '2.0.0');
    await d.startTls();
    // The first reply over TLS must answer our HELP (214), not the injected RSET (250); and as the session
    // starts over, a MAIL now is out of sequence.
    await d.command('HELP');
    await d.expect(214);
    await d.command('MAIL FROM:<sender@client.example>');
    await d.expect(503);
  });

  test('a STARTTLS injection of a whole EHLO+MAIL does not open a transaction inside TLS', async (t) => {
    const d = await SmtpDialog.connect(facteur.port('plain'));
    t.after(() => d.close());
    await d.expect(220);
    await d.command('EHLO client.example');
    await d.expect(250);
    await d.send('STARTTLS\r\nEHLO evil.example\r\nMAIL FROM:<ceo@example.org>\r\n');
    await d.expect(220, '2.0.0');
    await d.startTls();
    await d.command('RCPT TO:<alice@example.org>');
    await d.expect(503, '5.5.1');
  });

  test('plain text on the implicit TLS port is never answered: the connection is closed', async (t) => {
    const d = await SmtpDialog.connect(facteur.port('tls'));
    t.after(() => d.close());
    await d.send('EHLO client.example\r\nMAIL FROM:<sender@client.example>\r\n');
    await d.expectClosed();
  });

  for (const version of ['TLSv1', 'TLSv1.1'] as const) {
    test(`${version} is refused`, async () => {
      // Let the client offer the old protocol (OpenSSL 3 refuses it by default at security level 1+), so that a
      // failure proves the server said no: it answers with a protocol_version alert.
      const socket = tlsConnect({
        host: '127.0.0.1',
        port: facteur.port('tls'),
        rejectUnauthorized: false,
        minVersion: version,
        maxVersion: version,
        ciphers: 'DEFAULT@SECLEVEL=0',
      });
      const err = await new Promise<NodeJS.ErrnoException>((resolve, reject) => {
        socket.once('secureConnect', () => {
          socket.destroy();
          reject(new Error(`${version} handshake succeeded`));
        });
        socket.once('error', resolve);
      });
      socket.destroy();
      // The alert comes from the server: the client was willing.
      assert.equal(err.code, 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION', err.message);
    });
  }

  test('TLSv1.2 is still accepted (RFC 8996 deprecates only 1.0 and 1.1)', async () => {
    const d = await SmtpDialog.connect(facteur.port('tls'), '127.0.0.1', { tls: true, tlsOptions: { maxVersion: 'TLSv1.2' } });
    try {
      assert.equal((d.socket as TLSSocket).getProtocol(), 'TLSv1.2');
      await d.expect(220);
    } finally {
      d.close();
    }
  });
});
