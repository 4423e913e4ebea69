// The Prometheus endpoint after a known load: the counters say exactly what was accepted, refused and ended.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startFacteur, type Facteur } from '../helpers/facteur.js';
import { messageText, startRelayWorld, submit } from '../helpers/relay.js';

/** The samples of a scrape: "name" → [{labels, value}]. */
function parseScrape(text: string): Map<string, { labels: Record<string, string>; value: number }[]> {
  const out = new Map<string, { labels: Record<string, string>; value: number }[]>();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null) continue;
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)) labels[k!] = v!;
    out.set(m[1]!, [...(out.get(m[1]!) ?? []), { labels, value: Number(m[3]) }]);
  }
  return out;
}

async function scrape(facteur: Facteur): Promise<ReturnType<typeof parseScrape>> {
  const res = await fetch(`http://${facteur.app.metricsAddress()}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
  return parseScrape(await res.text());
}

/** The value of one sample (0 when absent, as Prometheus reads a counter that never moved). */
function value(samples: ReturnType<typeof parseScrape>, name: string, labels: Record<string, string> = {}): number {
  const found = (samples.get(name) ?? []).filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return found.reduce((n, s) => n + s.value, 0);
}

describe('metrics endpoint', () => {
  let facteur: Facteur;
  before(async () => {
    facteur = await startFacteur({ toml: '[metrics]\nlisten = "127.0.0.1:0"\n[inbound]\nmax_message_size = "2KB"\n', outbound: true });
  });
  after(() => facteur.stop());

  test('counters match a known load exactly; the queue gauges are there; other paths are 404', async () => {
    // Session 1, plain: two messages accepted (one with two recipients), one unknown user, one message too big.
    const d = await facteur.connect();
    await d.expect(220);
    await d.ask('EHLO client.example');
    for (const rcpts of [['alice@example.org', 'postmaster@example.org'], ['alice@example.org']]) {
      await d.ask('MAIL FROM:<s@client.example>');
      for (const r of rcpts) assert.equal((await d.ask(`RCPT TO:<${r}>`)).code, 250);
      await d.command('DATA');
      await d.expect(354);
      await d.send('Subject: m\r\n\r\n12345\r\n.\r\n');
      await d.expect(250, '2.0.0');
    }
    await d.ask('MAIL FROM:<s@client.example>');
    assert.equal((await d.ask('RCPT TO:<nobody@example.org>')).code, 550);
    await d.ask('RCPT TO:<alice@example.org>');
    await d.command('DATA');
    await d.expect(354);
    await d.send(`Subject: big\r\n\r\n${'x'.repeat(3000)}\r\n.\r\n`);
    await d.expect(552, '5.3.4');
    await d.ask('QUIT');
    await d.expectClosed();
    // Session 2, implicit TLS: one message.
    const t = await facteur.connect('tls');
    await t.expect(220);
    await t.ask('EHLO client.example');
    await t.ask('MAIL FROM:<s@client.example>');
    await t.ask('RCPT TO:<alice@example.org>');
    await t.command('DATA');
    await t.expect(354);
    await t.send('Subject: m\r\n\r\n12345\r\n.\r\n');
    await t.expect(250, '2.0.0');
    await t.ask('QUIT');
    await t.expectClosed();

    const m = await scrape(facteur);
    const inbound = { server: 'inbound' };
    assert.equal(value(m, 'facteur_smtp_messages_total', { ...inbound, reply: '2xx' }), 3);
    assert.equal(value(m, 'facteur_smtp_messages_total', { ...inbound, reply: '5xx' }), 1);
    assert.equal(value(m, 'facteur_smtp_messages_total', { ...inbound, reply: '4xx' }), 0);
    assert.equal(value(m, 'facteur_smtp_commands_total', { ...inbound, verb: 'RCPT', reply: '2xx' }), 5);
    assert.equal(value(m, 'facteur_smtp_commands_total', { ...inbound, verb: 'RCPT', reply: '5xx' }), 1);
    assert.equal(value(m, 'facteur_smtp_commands_total', { ...inbound, verb: 'QUIT' }), 2);
    assert.equal(value(m, 'facteur_smtp_sessions_total', { ...inbound, end: 'quit' }), 2);
    assert.equal(value(m, 'facteur_smtp_sessions_open', inbound), 0);
    assert.equal(value(m, 'facteur_smtp_tls_sessions_total', inbound), 1);
    assert.equal(value(m, 'facteur_smtp_commit_duration_seconds_count', inbound), 3);
    // One message at a time: each commit flushed new/ (no other commit to share it with), plus the folders made
    // for the first one.
    const fsyncs = value(m, 'facteur_fsync_duration_seconds_count', { what: 'maildir' });
    assert.ok(fsyncs >= 3, `maildir fsyncs: ${fsyncs}`);
    // Each stored copy starts with our Received header, so bytes are more than the 3 × 21 bytes of text.
    assert.ok(value(m, 'facteur_smtp_message_bytes_total', inbound) > 3 * 21);
    assert.equal(value(m, 'facteur_queue_messages', { state: 'pending' }), 0);
    assert.equal(value(m, 'facteur_queue_oldest_message_age_seconds'), 0);
    assert.ok(value(m, 'facteur_process_resident_memory_bytes') > 0);

    assert.equal((await fetch(`http://${facteur.app.metricsAddress()}/`)).status, 404);
    assert.equal((await fetch(`http://${facteur.app.metricsAddress()}/metrics`, { method: 'POST' })).status, 405);
  });
});

describe('metrics of the relay', () => {
  test('after one message relayed through DNS: the lookups it made and the queue gauges', async (t) => {
    const world = await startRelayWorld();
    t.after(() => world.close());
    world.route('example.net', '127.0.0.2');
    const peer = await world.peer('127.0.0.2');
    const facteur = await startFacteur({ outbound: true, captureLog: true, toml: `[metrics]\nlisten = "127.0.0.1:0"\n${world.toml()}` });
    t.after(() => facteur.stop());
    const mark = facteur.logs().length;
    const { id } = await submit(facteur.port('outbound'), { from: 'sender@client.example', to: ['bob@example.net'], raw: messageText('metrics') });
    await facteur.waitForLog((e) => e.event === 'attempt' && e.id === id && e.outcome === 'sent', 10_000, mark);
    await facteur.waitForLog((e) => e.event === 'finished' && e.id === id, 10_000, mark);
    assert.equal(peer.messages.length, 1);
    const m = await scrape(facteur);
    assert.equal(value(m, 'facteur_dns_lookups_total', { type: 'MX', result: 'ok' }), 1);
    assert.ok(value(m, 'facteur_dns_lookups_total', { type: 'A', result: 'ok' }) >= 1);
    assert.equal(value(m, 'facteur_smtp_messages_total', { server: 'outbound', reply: '2xx' }), 1);
    assert.equal(value(m, 'facteur_delivery_attempts_total', { outcome: 'sent' }), 1);
    assert.equal(value(m, 'facteur_delivery_attempts_total', { outcome: 'deferred' }), 0);
    assert.equal(value(m, 'facteur_queue_messages', { state: 'pending' }) + value(m, 'facteur_queue_messages', { state: 'deferred' }), 0);
  });
});
