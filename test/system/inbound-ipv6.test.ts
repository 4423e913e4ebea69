// The inbound server over IPv6: a listener on [::1], and the client's address in the Received header.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import nodemailer from 'nodemailer';
import { startFacteur, type Facteur } from '../helpers/facteur.js';
import { readMail } from '../helpers/maildir.js';
import { SmtpDialog } from '../helpers/smtp-dialog.js';

/** Whether this machine can bind [::1] (containers often run without IPv6). */
function hasIpv6Loopback(): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen({ host: '::1', port: 0 }, () => probe.close(() => resolve(true)));
  });
}

const ipv6 = await hasIpv6Loopback();

describe('inbound over IPv6', { skip: ipv6 ? false : 'no IPv6 loopback (::1) on this machine' }, () => {
  let facteur: Facteur;
  before(async () => {
    facteur = await startFacteur({ ipv6: true });
  });
  after(() => facteur.stop());

  test('nodemailer delivers over [::1]; the Received header shows the IPv6 client', async () => {
    const transport = nodemailer.createTransport({ host: '::1', port: facteur.port('plain', '::1'), secure: false, name: 'client.example', tls: { rejectUnauthorized: false } });
    const info = await transport.sendMail({ from: 'sender@client.example', to: 'alice@example.org', subject: 'v6', text: 'over IPv6\n' });
    assert.deepEqual(info.accepted, ['alice@example.org']);
    const [file, ...others] = await readMail(facteur.maildirRoot, 'alice');
    assert.equal(others.length, 0);
    assert.match(file!.content.toString('utf8'), /\nReceived: from client\.example \(\[::1\]\)\n/);
  });

  test('implicit TLS over [::1]', async (t) => {
    const d = await SmtpDialog.connect(facteur.port('tls', '::1'), '::1', { tls: true });
    t.after(() => d.close());
    await d.expect(220);
    await d.command('EHLO [IPv6:::1]');
    await d.expect(250);
  });
});
