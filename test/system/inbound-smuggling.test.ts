// SMTP smuggling (CVE-2023-51764..51766): a fake end of data inside DATA must never start a second transaction.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startFacteur, type Facteur } from '../helpers/facteur.js';
import { listMail } from '../helpers/maildir.js';
import { SmtpDialog } from '../helpers/smtp-dialog.js';

/** Line endings other servers have taken for the end of data. Only CRLF "." CRLF is the end (RFC 5321 §4.1.1.4). */
const FAKE_ENDS: readonly [string, string][] = [
  ['LF . LF', '\n.\n'],
  ['LF . CRLF', '\n.\r\n'],
  ['CR . CRLF', '\r.\r\n'],
  ['CRLF . LF', '\r\n.\n'],
  ['CR CRLF', '\r\r\n'],
  ['CRLF . CR', '\r\n.\r'],
];

/** What the attacker hopes will run as a second transaction, from a spoofed sender. */
const SMUGGLED =
  'MAIL FROM:<ceo@example.org>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n' +
  'From: ceo@example.org\r\nSubject: smuggled\r\n\r\nwire the money\r\n.\r\n';

describe('SMTP smuggling', () => {
  let facteur: Facteur;
  before(async () => {
    facteur = await startFacteur();
  });
  after(() => facteur.stop());

  for (const [name, fakeEnd] of FAKE_ENDS) {
    test(`"${name}" inside DATA: one 550 5.6.0 for the whole text, no message delivered`, async (t) => {
      const d = await SmtpDialog.connect(facteur.port('plain'));
      t.after(() => d.close());
      await d.expect(220);
      await d.command('EHLO attacker.example');
      await d.expect(250);
      await d.command('MAIL FROM:<attacker@attacker.example>');
      await d.expect(250);
      await d.command('RCPT TO:<alice@example.org>');
      await d.expect(250);
      await d.command('DATA');
      await d.expect(354);
      // All in one write, as an attacker would send it through a lenient outbound relay.
      await d.send(`Subject: innocent\r\n\r\nhello${fakeEnd}${SMUGGLED}`);
      await d.expect(550, '5.6.0');
      // The next reply must be the one to our QUIT: anything else would be the smuggled commands' replies.
      await d.command('QUIT');
      await d.expect(221);
      await d.expectClosed();
      assert.deepEqual(await listMail(facteur.maildirRoot, 'alice'), [], 'nothing delivered');
      assert.deepEqual(await listMail(facteur.maildirRoot, 'alice', 'tmp'), [], 'nothing left in tmp/');
    });
  }
});
