// Retries through the whole app: deferral then success, a DNS failure that must never bounce, and the end of queue_lifetime.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { queueDelete } from '../../src/cli/queue-commands.js';
import { startFacteur, type Facteur } from '../helpers/facteur.js';
import { checkBounce, messageText, queueEntries, startRelayWorld, submit, type RelayWorld } from '../helpers/relay.js';

type LogEntry = Record<string, unknown>;
const attempt = (id: string, outcome: string) => (e: LogEntry) => e.event === 'attempt' && e.id === id && e.outcome === outcome;
const finished = (id: string) => (e: LogEntry) => e.event === 'finished' && e.id === id;

describe('retries with retry_min = 200ms, retry_max = 1s', () => {
  let world: RelayWorld;
  let facteur: Facteur;

  before(async () => {
    world = await startRelayWorld();
    facteur = await startFacteur({ outbound: true, captureLog: true, toml: world.toml('retry_min = "200ms"\nretry_max = "1s"') });
  });
  after(async () => {
    await facteur?.stop();
    await world?.close();
  });

  test('a peer answering 451 twice, then 250: delivered exactly once, attempts growing in `queue list --json` meanwhile', async (t) => {
    world.route('busy.test', '127.0.0.2');
    let tries = 0;
    const peer = await world.peer('127.0.0.2', { dataReply: () => (++tries <= 2 ? { code: 451, text: 'Try again later' } : undefined) });
    t.after(() => peer.close());

    const mark = facteur.logs().length;
    const { id } = await submit(facteur.port('outbound'), { from: 'sender@client.example', to: ['rob@busy.test'], raw: messageText('retry') });
    const seen: number[] = [];
    for (let n = 1; n <= 2; n++) {
      // The n-th deferral; the list is read right after it, well before the next try (200 ms, then 400 ms, ±10 %).
      await facteur.waitForLog((e) => attempt(id, 'deferred')(e) && facteur.logs().slice(mark).filter(attempt(id, 'deferred')).length === n, 10_000, mark);
      const entry = (await queueEntries(facteur.config)).find((e) => e.id === id);
      const r = entry?.recipients[0];
      assert.equal(r?.address, 'rob@busy.test');
      // 'pending' if the next try has already begun (a slow machine): it is still the n-th attempt's state.
      assert.ok(r?.status === 'deferred' || r?.status === 'pending', r?.status);
      assert.match(r?.last_error ?? '', /^451 /);
      assert.ok(r?.next_attempt !== null && Date.parse(r?.next_attempt ?? '') > Date.parse(entry?.created ?? ''));
      seen.push(r?.attempts ?? -1);
    }
    assert.deepEqual(seen, [1, 2]);
    await facteur.waitForLog(finished(id), 10_000, mark);
    assert.deepEqual(peer.messages.map((m) => m.code), [451, 451, 250], 'exactly one copy accepted');
    assert.equal(facteur.logs().slice(mark).filter(attempt(id, 'sent')).length, 1);
    assert.deepEqual(await queueEntries(facteur.config), []);
  });

  test(
    'after a deferral, the recipients of one domain are retried together: one transaction, one copy',
    async (t) => {
      world.route('together.test', '127.0.0.4');
      let tries = 0;
      const peer = await world.peer('127.0.0.4', { dataReply: () => (++tries === 1 ? { code: 451, text: 'Try again later' } : undefined) });
      t.after(() => peer.close());

      const mark = facteur.logs().length;
      const to = ['r1@together.test', 'r2@together.test', 'r3@together.test'];
      const { id } = await submit(facteur.port('outbound'), { from: 'sender@client.example', to, raw: messageText('together') });
      await facteur.waitForLog(finished(id), 10_000, mark);
      assert.deepEqual(
        peer.messages.map((m) => [m.code, m.to]),
        [
          [451, to],
          [250, to],
        ],
      );
    },
  );

  test('DNS SERVFAIL for the recipient domain: deferred again and again, never bounced', async (t) => {
    world.zone['servfail.test'] = { servfail: true };
    world.route('sender-home.test', '127.0.0.3');
    const home = await world.peer('127.0.0.3');
    t.after(() => home.close());

    const mark = facteur.logs().length;
    const { id } = await submit(facteur.port('outbound'), { from: 'sender@sender-home.test', to: ['x@servfail.test'], raw: messageText('servfail') });
    // Two deferrals in a row: the second comes after a retry, not only after the first try.
    await facteur.waitForLog((e) => attempt(id, 'deferred')(e) && facteur.logs().slice(mark).filter(attempt(id, 'deferred')).length === 2, 10_000, mark);
    const entry = (await queueEntries(facteur.config)).find((e) => e.id === id);
    assert.equal(entry?.recipients[0]?.status, 'deferred');
    assert.match(entry?.recipients[0]?.last_error ?? '', /MX lookup for servfail\.test failed/);
    const since = facteur.logs().slice(mark);
    assert.ok(!since.some((e) => e.event === 'bounce' || (e.id === id && e.outcome === 'bounced')), 'never bounced');
    assert.equal(home.messages.length, 0);
    // Leave nothing retrying behind this test.
    assert.equal(await queueDelete(facteur.config, id, { out: () => undefined, err: () => undefined }), 0);
  });
});

describe('queue_lifetime = 1s', () => {
  let world: RelayWorld;
  let facteur: Facteur;

  before(async () => {
    world = await startRelayWorld();
    facteur = await startFacteur({
      outbound: true,
      captureLog: true,
      toml: world.toml('retry_min = "200ms"\nretry_max = "1s"\nqueue_lifetime = "1s"'),
    });
  });
  after(async () => {
    await facteur?.stop();
    await world?.close();
  });

  test('a peer answering 451 forever: after the lifetime the sender gets a bounce with Status: 4.4.7', async (t) => {
    world.route('forever.test', '127.0.0.2');
    world.route('origin.test', '127.0.0.3');
    const peer = await world.peer('127.0.0.2', { rcptReply: () => ({ code: 451, text: 'Greylisted, try later' }) });
    const home = await world.peer('127.0.0.3');
    t.after(() => Promise.all([peer.close(), home.close()]));

    const mark = facteur.logs().length;
    const { id } = await submit(facteur.port('outbound'), { from: 'sender@origin.test', to: ['stuck@forever.test'], raw: messageText('lifetime') });
    const bounces = await home.waitForMessages(1);
    await facteur.waitForLog(finished(id), 10_000, mark);
    checkBounce(bounces[0], 'sender@origin.test', ['stuck@forever.test'], /^4\.4\.7$/, /^Diagnostic-Code: smtp; 451 /m);
    assert.equal(peer.messages.length, 0);
    assert.ok(facteur.logs().slice(mark).filter((e) => e.event === 'attempt' && e.id === id).length >= 2, 'retried before giving up');
    const created = Number(facteur.logs().find((e) => e.event === 'queued' && e.id === id)?.time ?? NaN);
    t.diagnostic(`bounced ${Date.now() - created} ms after arrival`);
  });
});
