// Per-client limits over real sockets: each limit reached gives 421 4.7.0 saying which, and loopback is exempt
// unless the config says otherwise (these tests empty inbound.limits_exempt, since they connect from 127.0.0.1).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startFacteur } from '../helpers/facteur.js';

const LIMITS = '[inbound]\nlimits_exempt = []\nmax_connections_per_client = 2\nmax_connection_rate = 4\nmax_message_rate = 2\nmax_recipient_rate = 3\n';

describe('per-client limits', () => {
  test('connections at once: the third gets 421 4.7.0; once one closes, a new one is served', async (t) => {
    const facteur = await startFacteur({ toml: LIMITS.replace('max_connection_rate = 4', 'max_connection_rate = 100'), captureLog: true });
    t.after(() => facteur.stop());
    const a = await facteur.connect();
    await a.expect(220);
    const b = await facteur.connect();
    await b.expect(220);
    const c = await facteur.connect();
    const refused = await c.expect(421, '4.7.0');
    assert.match(refused.lines[0]!, /Too many connections from your address/);
    await c.expectClosed();
    const from = facteur.logs().length;
    await a.ask('QUIT');
    await a.expectClosed();
    await facteur.waitForLog((e) => e.event === 'session' && e.end === 'quit', 5000, from);
    const d = await facteur.connect();
    await d.expect(220);
  });

  test('connection rate: the fifth connection in a minute gets 421 4.7.0', async (t) => {
    const facteur = await startFacteur({ toml: LIMITS.replace('max_connections_per_client = 2', 'max_connections_per_client = 100') });
    t.after(() => facteur.stop());
    for (let i = 0; i < 4; i++) {
      const d = await facteur.connect();
      await d.expect(220);
      d.close();
    }
    const d = await facteur.connect();
    assert.match((await d.expect(421, '4.7.0')).lines[0]!, /Too many new connections from your address in the last minute/);
    await d.expectClosed();
  });

  test('message rate: the third MAIL in a minute gets 421 4.7.0 and the session ends', async (t) => {
    const facteur = await startFacteur({ toml: LIMITS, captureLog: true });
    t.after(() => facteur.stop());
    const d = await facteur.connect();
    await d.expect(220);
    await d.ask('EHLO client.example');
    for (let i = 0; i < 2; i++) {
      assert.equal((await d.ask('MAIL FROM:<s@client.example>')).code, 250);
      await d.ask('RSET');
    }
    const r = await d.ask('MAIL FROM:<s@client.example>');
    assert.equal(`${r.code} ${r.enhanced}`, '421 4.7.0');
    assert.match(r.lines[0]!, /Too many messages from your address/);
    await d.expectClosed();
    assert.equal((await facteur.waitForLog((e) => e.event === 'client-limit', 5000, 0)).limit, 'message rate');
  });

  test('recipient rate: the fourth RCPT in a minute gets 421 4.7.0', async (t) => {
    const facteur = await startFacteur({ toml: LIMITS, users: { alice: ['alice@example.org', 'a2@example.org', 'a3@example.org', 'a4@example.org'] } });
    t.after(() => facteur.stop());
    const d = await facteur.connect();
    await d.expect(220);
    await d.ask('EHLO client.example');
    await d.ask('MAIL FROM:<s@client.example>');
    for (const to of ['alice', 'a2', 'a3']) assert.equal((await d.ask(`RCPT TO:<${to}@example.org>`)).code, 250);
    const r = await d.ask('RCPT TO:<a4@example.org>');
    assert.equal(`${r.code} ${r.enhanced}`, '421 4.7.0');
    assert.match(r.lines[0]!, /Too many recipients/);
    await d.expectClosed();
  });

  test('loopback is exempt by default', async (t) => {
    const facteur = await startFacteur({ toml: '[inbound]\nmax_connections_per_client = 1\nmax_message_rate = 1\n' });
    t.after(() => facteur.stop());
    const a = await facteur.connect();
    await a.expect(220);
    const b = await facteur.connect();
    await b.expect(220);
    await b.ask('EHLO client.example');
    for (let i = 0; i < 3; i++) {
      assert.equal((await b.ask('MAIL FROM:<s@client.example>')).code, 250);
      await b.ask('RSET');
    }
  });
});
