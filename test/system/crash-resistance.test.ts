// No client can take the process down: TLS clients that linger after we close (the reset used to throw from a
// timer and kill `facteur start`), clients cut off by a limit, and shutdown with TLS clients open. Nor can the
// network: a DNS server that cannot even be connected to.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startDnsServer } from '../helpers/dns-server.js';
import { prepareFacteur, spawnFacteur, type SpawnedFacteur } from '../helpers/facteur.js';
import { listMail } from '../helpers/maildir.js';
import { deliverOne, SmtpDialog } from '../helpers/smtp-dialog.js';

/** Short timeouts so that each trigger fires in about a second; debug level so that resets are logged. */
const TOML = '[log]\nlevel = "debug"\n[timeouts]\ncommand = "1s"\n';

/** Resolves when facteur logs that it reset a lingering client's connection (rejects if the process dies first). */
const resetLogged = (facteur: SpawnedFacteur): Promise<Record<string, unknown>> =>
  facteur.waitForLog((e) => e.event === 'connection-reset', 10_000);

describe('a lingering client never crashes the server (one process, every trigger in turn)', () => {
  test('silent TLS client, QUIT then linger on 465, STARTTLS then idle, error limit over TLS: same pid, still delivers', async (t) => {
    const prepared = await prepareFacteur({ toml: TOML });
    t.after(() => prepared.cleanup());
    const facteur = await spawnFacteur(prepared.configPath);
    t.after(() => facteur.kill());

    await t.test('a client that connects to the implicit-TLS port and says nothing until the handshake timeout', async () => {
      const d = await SmtpDialog.connect(facteur.port('tls'), '127.0.0.1', { linger: true });
      t.after(() => d.close());
      const reset = resetLogged(facteur);
      await d.expectClosed(); // our FIN after the handshake timeout; the client keeps its side open
      await reset;
    });

    await t.test('QUIT on port 465, then the client keeps the connection open', async () => {
      const d = await SmtpDialog.connect(facteur.port('tls'), '127.0.0.1', { tls: true, linger: true });
      t.after(() => d.close());
      await d.expect(220);
      const reset = resetLogged(facteur);
      await d.command('QUIT');
      await d.expect(221);
      await d.expectClosed();
      await reset;
    });

    await t.test('STARTTLS, then idle into the command timeout', async () => {
      const d = await SmtpDialog.connect(facteur.port('plain'), '127.0.0.1', { linger: true });
      t.after(() => d.close());
      await d.expect(220);
      await d.ask('EHLO client.example');
      assert.equal((await d.ask('STARTTLS')).code, 220);
      await d.startTls();
      const reset = resetLogged(facteur);
      await d.expect(421, '4.4.2');
      await d.expectClosed();
      await reset;
    });

    await t.test('the error limit reached over TLS', async () => {
      const d = await SmtpDialog.connect(facteur.port('tls'), '127.0.0.1', { tls: true, linger: true });
      t.after(() => d.close());
      await d.expect(220);
      await d.ask('EHLO client.example');
      const reset = resetLogged(facteur);
      await d.send('BOGUS\r\n'.repeat(20));
      for (let i = 0; i < 19; i++) await d.expect(500);
      await d.expect(500);
      await d.expect(421, '4.7.0');
      await d.expectClosed();
      await reset;
    });

    await deliverOne(facteur.port('plain'), 'after the lingering clients');
    assert.equal(facteur.child.exitCode, null, 'the process is still running');
    assert.equal(facteur.child.pid, facteur.pid);
    assert.equal((await listMail(prepared.maildirRoot, 'alice')).length, 1);
  });

  test('SIGTERM with lingering TLS clients open: 421 to each, exit 0', async (t) => {
    const prepared = await prepareFacteur({ toml: TOML });
    t.after(() => prepared.cleanup());
    const facteur = await spawnFacteur(prepared.configPath);
    t.after(() => facteur.kill());

    const implicit = await SmtpDialog.connect(facteur.port('tls'), '127.0.0.1', { tls: true, linger: true });
    t.after(() => implicit.close());
    await implicit.expect(220);
    await implicit.ask('EHLO client.example');
    const upgraded = await SmtpDialog.connect(facteur.port('plain'), '127.0.0.1', { linger: true });
    t.after(() => upgraded.close());
    await upgraded.expect(220);
    await upgraded.ask('EHLO client.example');
    await upgraded.ask('STARTTLS');
    await upgraded.startTls();
    await upgraded.ask('EHLO client.example');

    facteur.child.kill('SIGTERM');
    for (const d of [implicit, upgraded]) {
      await d.expect(421, '4.3.2');
      await d.expectClosed();
    }
    assert.deepEqual(await facteur.exited, { code: 0, signal: null });
  });
});

describe('the network never crashes the server', () => {
  test('a DNS server whose UDP socket cannot be connected (connect(2) fails): the next server is asked, same pid', async (t) => {
    // 255.255.255.255 makes connect(2) fail at once with EACCES, as a server with no route (ENETUNREACH: the network
    // is down) or a link-local one without its interface (EINVAL) does. That used to throw ERR_SOCKET_BAD_PORT from
    // a tick and end `facteur start` at the first lookup; here the first lookup is a DNS blocklist's.
    const dns = await startDnsServer({ '1.0.0.127.listed.test': { A: ['127.0.0.2'] } });
    t.after(() => dns.close());
    const toml = `dns_servers = ["255.255.255.255", "${dns.address}"]\n[inbound]\nlimits_exempt = []\ndnsbl = ["listed.test"]\n`;
    const prepared = await prepareFacteur({ toml });
    t.after(() => prepared.cleanup());
    const facteur = await spawnFacteur(prepared.configPath);
    t.after(() => facteur.kill());

    for (let i = 0; i < 2; i++) {
      const d = await SmtpDialog.connect(facteur.port('plain'));
      t.after(() => d.close());
      await d.expect(554, '5.7.1'); // listed: the answer came from the second server
      assert.equal((await d.ask('QUIT')).code, 221);
      await d.expectClosed();
    }
    assert.equal(facteur.child.exitCode, null, 'the process is still running');
    assert.equal(facteur.child.pid, facteur.pid);
  });
});
