// Clients that only hold a connection: NOOP loops, byte-a-second DATA, half-open sockets at the cap, resets.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { describe, test } from 'node:test';
import { startFacteur } from '../helpers/facteur.js';
import { listMail } from '../helpers/maildir.js';

describe('inbound abuse', () => {
  test('more than the default 100 commands without a message gets 421 4.7.0 and the connection is closed', async (t) => {
    const facteur = await startFacteur();
    t.after(() => facteur.stop());
    const d = await facteur.connect();
    await d.expect(220);
    await d.command('EHLO client.example');
    await d.expect(250);
    await d.send('NOOP\r\n'.repeat(100));
    for (let i = 0; i < 99; i++) await d.expect(250);
    await d.expect(421, '4.7.0');
    await d.expectClosed();
  });

  test('a DATA trickled one byte at a time is cut at twice the data timeout, and nothing is delivered', async (t) => {
    const facteur = await startFacteur({ toml: '[timeouts]\ndata = "1s"\n' });
    t.after(() => facteur.stop());
    const d = await facteur.connect();
    await d.expect(220);
    await d.command('EHLO client.example'); // alone: pipelining starts once the client has seen our EHLO reply
    await d.expect(250);
    await d.send('MAIL FROM:<s@client.example>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n');
    await d.expect(250);
    await d.expect(250);
    await d.expect(354);
    // Always within the per-block timeout, never finishing: only the overall deadline can end it.
    const trickle = setInterval(() => d.socket.write('x'), 300);
    t.after(() => clearInterval(trickle));
    await d.expect(421, '4.4.2');
    await d.expectClosed();
    clearInterval(trickle);
    assert.deepEqual(await listMail(facteur.maildirRoot, 'alice'), []);
  });

  test('a client refused at max_connections that keeps its half open is disconnected anyway', async (t) => {
    const facteur = await startFacteur({ toml: '[inbound]\nmax_connections = 1\n' });
    t.after(() => facteur.stop());
    const first = await facteur.connect();
    await first.expect(220);
    const extra = connect({ port: facteur.port('plain'), host: '127.0.0.1', allowHalfOpen: true });
    extra.on('error', () => undefined); // the reset shows up as ECONNRESET
    let text = '';
    extra.on('data', (b: Buffer) => (text += b.toString('latin1')));
    await once(extra, 'end'); // the server sent its 421 and its FIN; we never send ours
    assert.match(text, /^421 4\.7\.0 /);
    // Our read side is over, so only a write can learn that the server reset its socket (freeing its descriptor).
    const poke = setInterval(() => extra.destroyed || extra.write('NOOP\r\n'), 250);
    t.after(() => clearInterval(poke));
    await new Promise((resolve) => extra.once('close', resolve)); // (events.once would reject on the EPIPE)
    clearInterval(poke);
  });

  test('a client resetting the connection in the middle of DATA is logged as a network event, not as a failure', async (t) => {
    const facteur = await startFacteur({ captureLog: true });
    t.after(() => facteur.stop());
    const d = await facteur.connect();
    await d.expect(220);
    await d.command('EHLO client.example');
    await d.expect(250);
    await d.send('MAIL FROM:<s@client.example>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n');
    for (const code of [250, 250, 354]) await d.expect(code);
    const from = facteur.logs().length;
    await d.send('Subject: cut\r\n\r\nhalf');
    d.socket.resetAndDestroy();
    const session = await facteur.waitForLog((e) => e.event === 'session', 10_000, from);
    assert.equal(session.end, 'eof');
    assert.deepEqual(facteur.logs().slice(from).filter((e) => Number(e.level) >= 50), []);
    assert.deepEqual(await listMail(facteur.maildirRoot, 'alice', 'tmp'), []);
  });
});
