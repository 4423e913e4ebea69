// PIPELINING (RFC 2920): commands sent in one write get their replies in order, also right after the final dot.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startFacteur, type Facteur } from '../helpers/facteur.js';
import { readMail, splitMessage } from '../helpers/maildir.js';
import { SmtpDialog } from '../helpers/smtp-dialog.js';

describe('inbound PIPELINING', () => {
  let facteur: Facteur;
  before(async () => {
    facteur = await startFacteur({ users: { alice: ['alice@example.org'], bob: ['bob@example.org'], carol: ['carol@example.org'], postmaster: ['postmaster@example.org'] } });
  });
  after(() => facteur.stop());

  async function session(t: { after: (fn: () => void) => void }): Promise<SmtpDialog> {
    const d = await SmtpDialog.connect(facteur.port('plain'));
    t.after(() => d.close());
    await d.expect(220);
    await d.command('EHLO client.example');
    const ehlo = await d.expect(250);
    assert.ok(ehlo.lines.some((l) => l.slice(4) === 'PIPELINING'));
    return d;
  }

  test('MAIL, RCPT, RCPT, DATA in one write: four replies, in order, the refused recipient in its place', async (t) => {
    const d = await session(t);
    await d.send('MAIL FROM:<sender@client.example>\r\nRCPT TO:<nobody@example.org>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n');
    await d.expect(250, '2.1.0');
    await d.expect(550, '5.1.1');
    await d.expect(250, '2.1.5');
    await d.expect(354);
    await d.send('Subject: pipelined\r\n\r\none\r\n.\r\n');
    await d.expect(250, '2.0.0');
    const [file] = await readMail(facteur.maildirRoot, 'alice');
    assert.equal(splitMessage(file!.content).body, 'one\n');
  });

  test('a whole transaction pipelined behind the final dot is read as commands, not lost', async (t) => {
    const d = await session(t);
    await d.send('MAIL FROM:<sender@client.example>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n');
    await d.expect(250);
    await d.expect(250);
    await d.expect(354);
    // The end of the first message and all of the second transaction's commands in one write.
    await d.send('Subject: first\r\n\r\nfirst\r\n.\r\nMAIL FROM:<sender@client.example>\r\nRCPT TO:<carol@example.org>\r\nDATA\r\n');
    await d.expect(250, '2.0.0');
    await d.expect(250, '2.1.0');
    await d.expect(250, '2.1.5');
    await d.expect(354);
    await d.send('Subject: second\r\n\r\nsecond\r\n.\r\nQUIT\r\n');
    await d.expect(250, '2.0.0');
    await d.expect(221);
    await d.expectClosed();
    const bob = await readMail(facteur.maildirRoot, 'bob');
    const carol = await readMail(facteur.maildirRoot, 'carol');
    assert.equal(bob.length, 1);
    assert.equal(carol.length, 1);
    assert.equal(splitMessage(bob[0]!.content).body, 'first\n');
    assert.equal(splitMessage(carol[0]!.content).body, 'second\n');
  });

  test('a pipelined batch with an error in the middle keeps its order (RSET, NOOP, bad verb, HELP, QUIT)', async (t) => {
    const d = await session(t);
    await d.send('RSET\r\nNOOP\r\nBOGUS\r\nHELP\r\nQUIT\r\n');
    await d.expect(250);
    await d.expect(250);
    await d.expect(500, '5.5.2');
    await d.expect(214);
    await d.expect(221);
    await d.expectClosed();
  });
});
