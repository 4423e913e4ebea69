// Session-wide limits: a client that talks without sending mail, or that takes too long, is sent away with
// 421 4.7.0; a client that really sends mail (hundreds of messages in one session) never is.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startFacteur } from '../helpers/facteur.js';
import { listMail } from '../helpers/maildir.js';

describe('session limits', () => {
  test('a client cycling EHLO/MAIL/RCPT/RSET without ever sending DATA is cut off after 100 commands', async (t) => {
    const facteur = await startFacteur({ captureLog: true });
    t.after(() => facteur.stop());
    const d = await facteur.connect();
    await d.expect(220);
    // The first EHLO alone: a client may pipeline only once it has seen PIPELINING in the reply.
    await d.command('EHLO client.example');
    await d.expect(250);
    const cycle = 'MAIL FROM:<s@client.example>\r\nRCPT TO:<alice@example.org>\r\nRSET\r\nEHLO client.example\r\n';
    await d.send(cycle.repeat(24) + 'MAIL FROM:<s@client.example>\r\nRCPT TO:<alice@example.org>\r\nRSET\r\n'); // 1 + 99 commands
    for (let i = 0; i < 24; i++) {
      await d.expect(250, '2.1.0');
      await d.expect(250, '2.1.5');
      await d.expect(250, '2.0.0');
      await d.expect(250);
    }
    await d.expect(250, '2.1.0');
    await d.expect(250, '2.1.5');
    await d.expect(250, '2.0.0');
    const from = facteur.logs().length;
    await d.command('EHLO client.example'); // the 101st
    await d.expect(421, '4.7.0');
    await d.expectClosed();
    const line = await facteur.waitForLog((e) => e.event === 'session-limit', 5000, from);
    assert.equal(line.limit, 'idle-commands');
  });

  test('the count starts over with each accepted message: 500 messages in one session, RSET between them', async (t) => {
    const facteur = await startFacteur();
    t.after(() => facteur.stop());
    const d = await facteur.connect();
    await d.expect(220);
    await d.ask('EHLO client.example');
    for (let i = 0; i < 500; i++) {
      // Pipelined as a PIPELINING client would; RSET first, as pooled clients (nodemailer) do between messages.
      await d.send(`RSET\r\nMAIL FROM:<s@client.example>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n`);
      await d.expect(250);
      await d.expect(250, '2.1.0');
      await d.expect(250, '2.1.5');
      await d.expect(354);
      await d.send(`Subject: ${i}\r\n\r\nmessage ${i}\r\n.\r\n`);
      await d.expect(250, '2.0.0');
    }
    await d.command('QUIT');
    await d.expect(221);
    assert.equal((await listMail(facteur.maildirRoot, 'alice')).length, 500);
  });

  test('the lifetime cap ends a slow but active session with 421 4.7.0, after the messages it did send', async (t) => {
    const facteur = await startFacteur({ toml: '[inbound]\nmax_session_time = "1s"\n', captureLog: true });
    t.after(() => facteur.stop());
    const d = await facteur.connect();
    await d.expect(220);
    await d.ask('EHLO client.example');
    const from = facteur.logs().length;
    let sent = 0;
    // Each message is accepted until the session is a second old; then the next command, whichever, is refused.
    const cut = (r: { code: number; enhanced: string | null }): boolean => {
      if (r.code !== 421) return false;
      assert.equal(r.enhanced, '4.7.0');
      return true;
    };
    for (;;) {
      if (cut(await d.ask('MAIL FROM:<s@client.example>'))) break;
      if (cut(await d.ask('RCPT TO:<alice@example.org>'))) break;
      const go = await d.ask('DATA');
      if (cut(go)) break;
      assert.equal(go.code, 354);
      await d.send(`Subject: ${sent}\r\n\r\nslow\r\n.\r\n`);
      await d.expect(250, '2.0.0');
      sent += 1;
      assert.ok(sent < 100_000, 'the lifetime cap never came');
    }
    await d.expectClosed();
    assert.ok(sent > 0);
    assert.equal((await listMail(facteur.maildirRoot, 'alice')).length, sent);
    const line = await facteur.waitForLog((e) => e.event === 'session-limit', 5000, from);
    assert.equal(line.limit, 'lifetime');
    assert.equal(line.messages, sent);
  });
});
