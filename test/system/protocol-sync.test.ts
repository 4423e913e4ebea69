// Protocol synchronisation (RFC 5321 §4.1.4, RFC 2920 §3.1): a client that does not wait for the replies it must
// wait for gets 554 5.5.0 and is disconnected, and nothing it sent is stored; an honest pipelining client is not
// affected. A NUL in the message text refuses the message (554 5.6.0).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startFacteur, type Facteur } from '../helpers/facteur.js';
import { listMail } from '../helpers/maildir.js';

const MESSAGE = 'Subject: sync\r\n\r\nbody\r\n.\r\n';

describe('protocol synchronisation', () => {
  let facteur: Facteur;
  before(async () => {
    facteur = await startFacteur({ captureLog: true });
  });
  after(() => facteur.stop());

  const refusals: [string, string, (d: Awaited<ReturnType<Facteur['connect']>>) => Promise<void>][] = [
    ['commands pipelined behind HELO', 'command pipelined before EHLO', async (d) => {
      await d.send('HELO client.example\r\nMAIL FROM:<s@client.example>\r\nRCPT TO:<alice@example.org>\r\n');
    }],
    ['MAIL pipelined behind EHLO before its reply', 'command pipelined before EHLO', async (d) => {
      await d.send('EHLO client.example\r\nMAIL FROM:<s@client.example>\r\n');
    }],
    ['message text sent with DATA, before the 354', 'message text sent before the 354 reply', async (d) => {
      await d.ask('EHLO client.example');
      await d.send(`MAIL FROM:<s@client.example>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n${MESSAGE}`);
      await d.expect(250, '2.1.0');
      await d.expect(250, '2.1.5');
    }],
  ];
  for (const [name, reason, act] of refusals) {
    test(`${name}: 554 5.5.0, closed, logged, nothing stored`, async () => {
      const before = (await listMail(facteur.maildirRoot, 'alice')).length;
      const from = facteur.logs().length;
      const d = await facteur.connect();
      try {
        await d.expect(220);
        await act(d);
        await d.expect(554, '5.5.0');
        await d.expectClosed();
      } finally {
        d.close();
      }
      const line = await facteur.waitForLog((e) => e.event === 'sync-error', 5000, from);
      assert.equal(line.reason, reason);
      assert.equal((await listMail(facteur.maildirRoot, 'alice')).length, before);
    });
  }

  test('an honest pipelining client (EHLO, then MAIL/RCPT/DATA in one packet, the text after 354) delivers', async () => {
    const before = (await listMail(facteur.maildirRoot, 'alice')).length;
    const d = await facteur.connect();
    try {
      await d.expect(220);
      await d.ask('EHLO client.example');
      await d.send('MAIL FROM:<s@client.example>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n');
      await d.expect(250, '2.1.0');
      await d.expect(250, '2.1.5');
      await d.expect(354);
      await d.send(`${MESSAGE}MAIL FROM:<s@client.example>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n`);
      await d.expect(250, '2.0.0');
      await d.expect(250, '2.1.0');
      await d.expect(250, '2.1.5');
      await d.expect(354);
      await d.send(`${MESSAGE}QUIT\r\n`);
      await d.expect(250, '2.0.0');
      await d.expect(221);
    } finally {
      d.close();
    }
    assert.equal((await listMail(facteur.maildirRoot, 'alice')).length, before + 2);
  });

  test('a NUL in the message text: 554 5.6.0 after the final dot, nothing stored, the session goes on', async () => {
    const before = (await listMail(facteur.maildirRoot, 'alice')).length;
    const d = await facteur.connect();
    try {
      await d.expect(220);
      await d.ask('EHLO client.example');
      await d.send('MAIL FROM:<s@client.example>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n');
      for (const code of [250, 250, 354]) await d.expect(code);
      await d.send('Subject: nul\r\n\r\nbefore\0after\r\n.\r\n');
      await d.expect(554, '5.6.0');
      assert.equal((await d.ask('NOOP')).code, 250);
    } finally {
      d.close();
    }
    assert.equal((await listMail(facteur.maildirRoot, 'alice')).length, before);
    assert.deepEqual(await listMail(facteur.maildirRoot, 'alice', 'tmp'), []);
  });
});

describe('greet pause', () => {
  let facteur: Facteur;
  before(async () => {
    facteur = await startFacteur({ toml: '[inbound]\ngreet_pause = "300ms"\n', captureLog: true });
  });
  after(() => facteur.stop());

  test('a client that talks before the greeting gets 554 5.5.0 instead of 220, and is disconnected', async () => {
    const from = facteur.logs().length;
    const d = await facteur.connect();
    try {
      await d.command('EHLO eager.example');
      await d.expect(554, '5.5.0');
      await d.expectClosed();
    } finally {
      d.close();
    }
    assert.equal((await facteur.waitForLog((e) => e.event === 'sync-error', 5000, from)).reason, 'talked before the greeting');
  });

  test('a client that waits is greeted after the pause and served as usual', async () => {
    const d = await facteur.connect();
    try {
      await d.expect(220);
      assert.equal((await d.ask('EHLO patient.example')).code, 250);
    } finally {
      d.close();
    }
  });
});
