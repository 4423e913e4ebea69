// The whole relay: a client submits over SMTP, facteur queues, resolves MX through a DNS stub and delivers to peers on loopback.
import assert from 'node:assert/strict';
import { after, before, describe, test, type TestContext } from 'node:test';
import { startFacteur, type Facteur } from '../helpers/facteur.js';
import { readMail, splitMessage } from '../helpers/maildir.js';
import { checkBounce, messageText, queueEntries, startRelayWorld, submit, type RelayWorld } from '../helpers/relay.js';
import { sendTransaction, SmtpDialog } from '../helpers/smtp-dialog.js';
import { hasIpv6Loopback, type ReceivedMessage } from '../helpers/smtp-peer.js';

const ipv6 = await hasIpv6Loopback();
const NO_IPV6 = ipv6 ? false : 'no ::1 here';

type LogEntry = Record<string, unknown>;
const finished = (id: string) => (e: LogEntry) => e.event === 'finished' && e.id === id;
const attempt = (id: string, outcome: string) => (e: LogEntry) => e.event === 'attempt' && e.id === id && e.outcome === outcome;

/** The received message's text (CRLF as on the wire). */
const text = (m: ReceivedMessage | undefined): string => m?.body.toString('utf8') ?? '';

describe('outbound relay, end to end through the app', () => {
  let world: RelayWorld;
  let facteur: Facteur;

  before(async () => {
    world = await startRelayWorld();
    // Retries an hour away: a deferred recipient stays deferred for the whole file.
    facteur = await startFacteur({ outbound: true, captureLog: true, toml: world.toml('retry_min = "1h"\nretry_max = "2h"') });
  });
  after(async () => {
    await facteur?.stop();
    await world?.close();
  });

  /** Submits and resolves once the message has left the queue (every recipient sent or failed). */
  async function relay(from: string, to: string[], raw: string): Promise<string> {
    const mark = facteur.logs().length;
    const { id } = await submit(facteur.port('outbound'), { from, to, raw });
    await facteur.waitForLog(finished(id), 10_000, mark);
    return id;
  }

  test('nodemailer submits, gets "queued as ID", and the MX receives exactly one copy, intact, under our Received header', async (t) => {
    world.route('basic.test', '127.0.0.2');
    const peer = await world.peer('127.0.0.2');
    t.after(() => peer.close());
    const body = 'Hello Bob,\r\n.a line starting with a dot\r\n..two dots\r\n.\r\nend\r\n';
    const mark = facteur.logs().length;
    const sent = await submit(facteur.port('outbound'), { from: 'sender@client.example', to: ['bob@basic.test'], raw: messageText('basic', body), starttls: true });
    assert.match(sent.response, /^250 2\.0\.0 Ok: queued as [A-Za-z0-9]+$/);
    await facteur.waitForLog(finished(sent.id), 10_000, mark);

    assert.equal(peer.messages.length, 1);
    const m = peer.messages[0];
    assert.equal(m?.from, 'sender@client.example');
    assert.deepEqual(m?.to, ['bob@basic.test']);
    // Our trace header first (RFC 5321 §4.4), then the message exactly as submitted (dots un-stuffed by the peer).
    assert.match(text(m), /^Received: from client\.example \(\[127\.0\.0\.1\]\)\r\n\tby mx\.test \(facteur\) with ESMTPS id /);
    assert.ok(text(m).endsWith(`\r\n${messageText('basic', body)}`), text(m));
    assert.equal((text(m).match(/^Received:/gm) ?? []).length, 1);
    const log = facteur.logs().find(attempt(sent.id, 'sent'));
    assert.equal(log?.relay, 'mx.basic.test');
    assert.equal(log?.ip, '127.0.0.2');
    assert.deepEqual(log?.recipients, ['bob@basic.test']);
    assert.deepEqual(await queueEntries(facteur.config), []);
  });

  test('MX preference order and failover: the best MX refuses connections, the second gets exactly one copy, the third nothing', async (t) => {
    world.zone['prefs.test'] = {
      MX: [
        { exchange: 'mx3.prefs.test', priority: 30 },
        { exchange: 'mx1.prefs.test', priority: 10 },
        { exchange: 'mx2.prefs.test', priority: 20 },
      ],
    };
    world.zone['mx1.prefs.test'] = { A: ['127.0.0.3'] }; // nothing listens there
    world.zone['mx2.prefs.test'] = { A: ['127.0.0.4'] };
    world.zone['mx3.prefs.test'] = { A: ['127.0.0.5'] };
    const second = await world.peer('127.0.0.4');
    const third = await world.peer('127.0.0.5');
    t.after(() => Promise.all([second.close(), third.close()]));

    const id = await relay('sender@client.example', ['x@prefs.test', 'y@prefs.test'], messageText('prefs'));
    assert.equal(second.messages.length, 1);
    assert.deepEqual(second.messages[0]?.to, ['x@prefs.test', 'y@prefs.test']);
    assert.equal(second.connections(), 1);
    assert.equal(third.connections(), 0);
    assert.equal(facteur.logs().find(attempt(id, 'sent'))?.relay, 'mx2.prefs.test');
  });

  test('no MX record: the domain\'s own AAAA address is tried before its A address (implicit MX)', { skip: NO_IPV6 }, async (t) => {
    world.zone['implicit.test'] = { AAAA: ['::1'], A: ['127.0.0.6'] };
    const v6 = await world.peer('::1');
    const v4 = await world.peer('127.0.0.6');
    t.after(() => Promise.all([v6.close(), v4.close()]));

    const id = await relay('sender@client.example', ['z@implicit.test'], messageText('implicit'));
    assert.equal(v6.messages.length, 1);
    assert.equal(v4.connections(), 0);
    assert.equal(facteur.logs().find(attempt(id, 'sent'))?.ip, '::1');
    assert.ok(world.dns.questions.includes('implicit.test MX'), world.dns.questions.join(', '));
  });

  test('the MX host\'s IPv6 address is down: its IPv4 address takes the message', { skip: NO_IPV6 }, async (t) => {
    world.route('v6down.test', '::1', '127.0.0.7');
    const v4 = await world.peer('127.0.0.7');
    t.after(() => v4.close());

    const id = await relay('sender@client.example', ['w@v6down.test'], messageText('v6down'));
    assert.equal(v4.messages.length, 1);
    assert.equal(facteur.logs().find(attempt(id, 'sent'))?.ip, '127.0.0.7');
  });

  test('STARTTLS is used when the MX offers it', async (t) => {
    world.route('tls.test', '127.0.0.8');
    const peer = await world.peer('127.0.0.8', { starttls: true });
    t.after(() => peer.close());

    const id = await relay('sender@client.example', ['t@tls.test'], messageText('tls'));
    assert.equal(peer.messages.length, 1);
    assert.equal(peer.messages[0]?.secure, true);
    assert.deepEqual(peer.mails, [{ from: 'sender@client.example', secure: true }]);
    assert.match(String(facteur.logs().find(attempt(id, 'sent'))?.tls), /^TLSv1\.[23]$/);
  });

  test('opportunistic TLS: after a broken handshake the same host is tried again in plain text, and the log says so', async (t) => {
    world.route('broken.test', '127.0.0.9');
    const peer = await world.peer('127.0.0.9', { brokenTls: true });
    t.after(() => peer.close());

    const id = await relay('sender@client.example', ['b@broken.test'], messageText('broken'));
    assert.equal(peer.connections(), 2, 'one TLS try, one plain-text session');
    assert.equal(peer.messages.length, 1);
    assert.equal(peer.messages[0]?.secure, false);
    assert.ok(
      facteur.logs().some((e) => e.id === id && /plain text/.test(String(e.msg)) && e.level === 40),
      'a warning about the plain-text retry',
    );
    assert.equal(facteur.logs().find(attempt(id, 'sent'))?.tls, 'none');
  });

  test('recipients in two domains: one transaction per domain, each with its own recipients', async (t) => {
    world.route('one.test', '127.0.0.11');
    world.route('two.test', '127.0.0.12');
    const one = await world.peer('127.0.0.11');
    const two = await world.peer('127.0.0.12');
    t.after(() => Promise.all([one.close(), two.close()]));

    await relay('sender@client.example', ['a@one.test', 'c@two.test', 'b@one.test'], messageText('two-domains'));
    assert.equal(one.messages.length, 1);
    assert.deepEqual(one.messages[0]?.to, ['a@one.test', 'b@one.test']);
    assert.equal(two.messages.length, 1);
    assert.deepEqual(two.messages[0]?.to, ['c@two.test']);
  });

  test('partial failures at RCPT (250 / 450 / 550): one copy for the 250, the 450 stays deferred, the 550 is bounced once all are settled', async (t) => {
    world.route('part.test', '127.0.0.13');
    world.route('home.test', '127.0.0.14');
    let laterAnswer: { code: number; text: string } | undefined = { code: 450, text: 'Mailbox busy, try later' };
    const part = await world.peer('127.0.0.13', {
      rcptReply: (to) => (to.startsWith('later@') ? laterAnswer : to.startsWith('bad@') ? { code: 550, text: 'No such user' } : undefined),
    });
    const home = await world.peer('127.0.0.14');
    t.after(() => Promise.all([part.close(), home.close()]));

    const mark = facteur.logs().length;
    const { id } = await submit(facteur.port('outbound'), {
      from: 'sender@home.test',
      to: ['ok@part.test', 'later@part.test', 'bad@part.test'],
      raw: messageText('partial'),
    });
    await facteur.waitForLog(attempt(id, 'deferred'), 10_000, mark);
    assert.equal(part.messages.length, 1);
    assert.deepEqual(part.messages[0]?.to, ['ok@part.test']);
    const entry = (await queueEntries(facteur.config)).find((e) => e.id === id);
    assert.deepEqual(
      entry?.recipients.map((r) => [r.address, r.status, r.attempts]),
      [['later@part.test', 'deferred', 1]],
      'only the 450 recipient is still to deliver',
    );
    assert.match(entry?.recipients[0]?.last_error ?? '', /^450 /);

    // The busy mailbox recovers: the flush delivers it, the message is finished, and the 550 is reported.
    laterAnswer = undefined;
    facteur.app.flushQueue();
    const bounces = await home.waitForMessages(1);
    await facteur.waitForLog(finished(id), 10_000, mark);
    assert.equal(part.messages.length, 2);
    assert.deepEqual(part.messages[1]?.to, ['later@part.test']);
    checkBounce(bounces[0], 'sender@home.test', ['bad@part.test'], /^5\.\d{1,3}\.\d{1,3}$/, /^Diagnostic-Code: smtp; 550 /m);
    assert.doesNotMatch(text(bounces[0]), /Final-Recipient: rfc822; (ok|later)@part\.test/);
  });

  test(
    'a 550 recipient is bounced at once, without waiting for a deferred recipient of the same message',
    async (t) => {
      world.route('part2.test', '127.0.0.15');
      world.route('home2.test', '127.0.0.16');
      const part = await world.peer('127.0.0.15', {
        rcptReply: (to) => (to.startsWith('later@') ? { code: 450, text: 'Mailbox busy' } : { code: 550, text: 'No such user' }),
      });
      const home = await world.peer('127.0.0.16');
      t.after(() => Promise.all([part.close(), home.close()]));

      const mark = facteur.logs().length;
      const { id } = await submit(facteur.port('outbound'), { from: 'sender@home2.test', to: ['later@part2.test', 'bad@part2.test'], raw: messageText('prompt') });
      await facteur.waitForLog(attempt(id, 'bounced'), 10_000, mark);
      // A prompt bounce needs one more short SMTP session (about 150 ms here).
      const bounces = await home.waitForMessages(1, 1500);
      checkBounce(bounces[0], 'sender@home2.test', ['bad@part2.test'], /^5\.\d{1,3}\.\d{1,3}$/, /^Diagnostic-Code: smtp; 550 /m);
      const entry = (await queueEntries(facteur.config)).find((e) => e.id === id);
      assert.deepEqual(entry?.recipients.map((r) => r.status), ['deferred']);
    },
  );

  test('NXDOMAIN and null MX (RFC 7505) are permanent: never tried, one bounce at once listing both recipients', async (t) => {
    world.zone['nullmx.test'] = { MX: [{ exchange: '.', priority: 0 }], A: ['127.0.0.18'] };
    world.route('home3.test', '127.0.0.19');
    const target = await world.peer('127.0.0.18');
    const home = await world.peer('127.0.0.19');
    t.after(() => Promise.all([target.close(), home.close()]));

    const id = await relay('sender@home3.test', ['x@nxdomain.test', 'y@nullmx.test'], messageText('permanent'));
    const [bounce] = await home.waitForMessages(1);
    checkBounce(bounce, 'sender@home3.test', ['x@nxdomain.test', 'y@nullmx.test'], /^5\.\d{1,3}\.\d{1,3}$/, /^Diagnostic-Code: /m);
    assert.match(text(bounce), /does not exist/);
    assert.match(text(bounce), /null MX/);
    assert.equal(target.connections(), 0, 'the null MX domain\'s A record is not used');
    assert.ok(!facteur.logs().some(attempt(id, 'deferred')));
  });

  test('no bounce for a message from the null sender <>', async (t) => {
    world.route('nobounce.test', '127.0.0.17');
    const peer = await world.peer('127.0.0.17', { rcptReply: () => ({ code: 550, text: 'No such user' }) });
    t.after(() => peer.close());

    const d = await SmtpDialog.connect(facteur.port('outbound'));
    t.after(() => d.close());
    await d.expect(220);
    await d.command('EHLO client.example');
    await d.expect(250);
    const mark = facteur.logs().length;
    const final = await sendTransaction(d, { from: '', to: ['gone@nobounce.test'], text: messageText('null-sender') });
    const id = /queued as ([A-Za-z0-9]+)/.exec(final.lines.join(' '))?.[1] ?? '';
    assert.equal(final.code, 250, final.lines.join(' '));
    await facteur.waitForLog(finished(id), 10_000, mark);
    assert.ok(facteur.logs().slice(mark).some((e) => e.event === 'bounce-suppressed' && e.id === id));
    assert.ok(!facteur.logs().slice(mark).some((e) => e.event === 'bounce'), 'no bounce queued');
    assert.equal(peer.messages.length, 0);
  });

  test('a relay recipient in our own inbound domain lands in the local Maildir, not on the network', async () => {
    const questions = world.dns.questions.length;
    await relay('sender@client.example', ['alice@example.org'], messageText('local'));
    const files = await readMail(facteur.maildirRoot, 'alice');
    assert.equal(files.length, 1);
    const { header, body } = splitMessage(files[0]!.content);
    assert.match(header, /^Return-Path: <sender@client\.example>\n/);
    assert.match(header, /\tby mx\.test \(facteur\) with ESMTP id /);
    assert.match(header, /\nX-Marker: local\n/);
    assert.equal(body, 'Hello.\n');
    assert.ok(!world.dns.questions.slice(questions).some((q) => q.startsWith('example.org')), 'no DNS question for our own domain');
  });
});

describe('outbound relay with tls = "required"', () => {
  let world: RelayWorld;
  let facteur: Facteur;

  before(async () => {
    world = await startRelayWorld();
    facteur = await startFacteur({ outbound: true, captureLog: true, toml: world.toml('tls = "required"\nretry_min = "1h"\nretry_max = "2h"') });
  });
  after(async () => {
    await facteur?.stop();
    await world?.close();
  });

  async function deferredAt(t: TestContext, domain: string, host: string, opts: { starttls?: boolean; brokenTls?: boolean }) {
    world.route(domain, host);
    const peer = await world.peer(host, opts);
    t.after(() => peer.close());
    const mark = facteur.logs().length;
    const { id } = await submit(facteur.port('outbound'), { from: 'sender@client.example', to: [`r@${domain}`], raw: messageText(domain) });
    await facteur.waitForLog(attempt(id, 'deferred'), 10_000, mark);
    const entry = (await queueEntries(facteur.config)).find((e) => e.id === id);
    return { peer, entry };
  }

  test('a peer without STARTTLS gets nothing in plain text: the message stays queued, deferred', async (t) => {
    const { peer, entry } = await deferredAt(t, 'plain.test', '127.0.0.2', {});
    assert.equal(peer.connections(), 1);
    assert.deepEqual(peer.mails, [], 'no MAIL FROM in plain text');
    assert.equal(peer.messages.length, 0);
    assert.equal(entry?.recipients[0]?.status, 'deferred');
    assert.match(entry?.recipients[0]?.last_error ?? '', /^TLS policy opportunistic with tls = "required" refused mx\.plain\.test \[127\.0\.0\.2\]:\d+: no TLS: STARTTLS not offered \(starttls-not-supported\)$/);
  });

  test('a broken TLS handshake is not followed by a plain-text retry: deferred', async (t) => {
    const { peer, entry } = await deferredAt(t, 'brokentls.test', '127.0.0.3', { brokenTls: true });
    assert.equal(peer.connections(), 1);
    assert.deepEqual(peer.mails, []);
    assert.equal(entry?.recipients[0]?.status, 'deferred');
    assert.match(entry?.recipients[0]?.last_error ?? '', /^TLS policy opportunistic with tls = "required" refused mx\.brokentls\.test \[127\.0\.0\.3\]:\d+: TLS handshake failed: .+ \(validation-failure\)$/);
  });
});
