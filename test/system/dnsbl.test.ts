// DNS blocklists over real sockets, with a DNS server on loopback playing the lists. The test client is 127.0.0.1,
// so these tests empty inbound.limits_exempt (loopback is exempt by default) and ask for 1.0.0.127.<zone>.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startDnsServer, type DnsServer } from '../helpers/dns-server.js';
import { startFacteur } from '../helpers/facteur.js';
import { SmtpDialog } from '../helpers/smtp-dialog.js';

const CLIENT = '1.0.0.127';

describe('DNS blocklists before the greeting', () => {
  let dns: DnsServer;
  before(async () => {
    dns = await startDnsServer({
      [`${CLIENT}.listed.test`]: { A: ['127.0.0.2'] },
      [`${CLIENT}.slow.test`]: { drop: true },
      [`${CLIENT}.quota.test`]: { A: ['127.255.255.254'] },
      [`1.${'0.'.repeat(31)}listed6.test`]: { A: ['127.0.0.2'] },
    });
  });
  after(() => dns.close());

  const config = (zones: string[], extra = '') =>
    `dns_servers = ["${dns.address}"]\n[inbound]\nlimits_exempt = []\ndnsbl = ${JSON.stringify(zones)}\ndnsbl_timeout = "500ms"\n${extra}\n`;

  test('a listed client gets 554 5.7.1 naming the list instead of the greeting, then 554 to every command until QUIT', async (t) => {
    const facteur = await startFacteur({ toml: config(['clean.test', 'listed.test']), captureLog: true });
    t.after(() => facteur.stop());
    const from = facteur.logs().length;
    const d = await facteur.connect();
    const greeting = await d.expect(554, '5.7.1');
    assert.equal(greeting.lines[0], '554 5.7.1 Service unavailable; client [127.0.0.1] blocked using listed.test');
    for (const command of ['EHLO client.example', 'MAIL FROM:<s@client.example>', 'NOOP']) {
      const r = await d.ask(command);
      assert.equal(`${r.code} ${r.enhanced}`, '554 5.7.1', command);
    }
    assert.equal((await d.ask('QUIT')).code, 221);
    await d.expectClosed();
    const line = await facteur.waitForLog((e) => e.event === 'client-refused', 5000, from);
    assert.equal(line.client, '127.0.0.1');
    assert.equal(line.reason, 'listed on listed.test (127.0.0.2)');
  });

  test('an IPv6 client is looked up by its nibbles (RFC 5782 §2.4)', async (t) => {
    const facteur = await startFacteur({ toml: config(['listed6.test']), ipv6: true });
    t.after(() => facteur.stop());
    const d = await SmtpDialog.connect(facteur.port('plain', '::1'), '::1');
    t.after(() => d.close());
    const greeting = await d.expect(554, '5.7.1');
    assert.equal(greeting.lines[0], '554 5.7.1 Service unavailable; client [::1] blocked using listed6.test');
  });

  test('a client on no list is greeted, and the lists were asked', async (t) => {
    const facteur = await startFacteur({ toml: config(['clean.test']) });
    t.after(() => facteur.stop());
    const d = await facteur.connect();
    await d.expect(220);
    assert.equal((await d.ask('EHLO client.example')).code, 250);
    assert.ok(dns.questions.includes(`${CLIENT}.clean.test A`), dns.questions.join(', '));
  });

  test('a list that does not answer in time, or answers "do not trust me": the client is greeted', async (t) => {
    const facteur = await startFacteur({ toml: config(['slow.test', 'quota.test']), captureLog: true });
    t.after(() => facteur.stop());
    const from = facteur.logs().length;
    const d = await facteur.connect();
    await d.expect(220);
    const warned = await facteur.waitForLog((e) => e.event === 'dnsbl-unusable', 5000, from);
    assert.equal(warned.zone, 'quota.test');
    await facteur.waitForLog((e) => e.event === 'dnsbl-timeout', 5000, from);
  });

  test('exempt networks (loopback by default) are not looked up', async (t) => {
    const facteur = await startFacteur({ toml: config(['listed.test']).replace('limits_exempt = []\n', '') });
    t.after(() => facteur.stop());
    const asked = dns.questions.length;
    const d = await facteur.connect();
    await d.expect(220);
    assert.equal(dns.questions.length, asked);
  });

  test('the lookup runs during the greet pause: asked before the greeting, and a client talking first is still dropped', async (t) => {
    const facteur = await startFacteur({ toml: config(['pause.test'], 'greet_pause = "30s"') });
    t.after(() => facteur.stop());
    const asked = dns.waitForQuestion(`${CLIENT}.pause.test A`);
    const d = await facteur.connect();
    // The question reaches the DNS server while the client still waits for its greeting (30 s away)…
    await asked;
    // …and a client that talks now has not been greeted: 554 5.5.0, not a 220 followed by a reply.
    await d.send('EHLO impatient.example\r\n');
    await d.expect(554, '5.5.0');
    await d.expectClosed();
  });
});
