// Greylisting over real sockets, with the server's clock in the test's hands (no sleeps): 451 4.7.1 for a new
// triple, still 451 before the delay, 250 after it, and the triple remembered across a restart. The test client
// is 127.0.0.1, so inbound.limits_exempt is emptied (loopback is exempt by default).
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { prepareFacteur, startFacteur, type Facteur } from '../helpers/facteur.js';
import { listMail } from '../helpers/maildir.js';

const MIN = 60_000;
const GREYLIST = '[inbound]\nlimits_exempt = []\ngreylisting = true\ngreylist_delay = "5m"\ngreylist_auto_whitelist = 2\n';
const USERS = { alice: ['alice@example.org', 'a2@example.org', 'a3@example.org'], postmaster: ['postmaster@example.org'] };

/** A clock the test moves by hand. */
function testClock(start = Date.UTC(2026, 11, 3, 8, 0, 0)): { now: () => Date; advance: (ms: number) => void } {
  let t = start;
  return { now: () => new Date(t), advance: (ms) => (t += ms) };
}

/** One transaction up to the RCPT reply: its code and enhanced code; the session is left open for DATA. */
async function rcpt(facteur: Facteur, from: string, to: string) {
  const d = await facteur.connect();
  await d.expect(220);
  await d.ask('EHLO client.example');
  assert.equal((await d.ask(`MAIL FROM:<${from}>`)).code, 250);
  const r = await d.ask(`RCPT TO:<${to}>`);
  return { d, reply: `${r.code} ${r.enhanced}`, text: r.lines[0] };
}

describe('greylisting', () => {
  test('a new triple: 451 4.7.1, still 451 before the delay, 250 after it and from then on', async (t) => {
    const clock = testClock();
    const facteur = await startFacteur({ toml: GREYLIST, users: USERS, now: clock.now, captureLog: true });
    t.after(() => facteur.stop());

    const first = await rcpt(facteur, 's@client.example', 'alice@example.org');
    assert.equal(first.reply, '451 4.7.1');
    assert.match(first.text!, /Greylisted/);
    const logged = await facteur.waitForLog((e) => e.event === 'greylisted', 5000, 0);
    assert.deepEqual([logged.network, logged.from, logged.to, logged.why], ['127.0.0.0/24', 's@client.example', 'alice@example.org', 'new']);

    clock.advance(4 * MIN);
    assert.equal((await rcpt(facteur, 's@client.example', 'alice@example.org')).reply, '451 4.7.1');

    clock.advance(1 * MIN);
    const retry = await rcpt(facteur, 's@client.example', 'alice@example.org');
    assert.equal(retry.reply, '250 2.1.5');
    await retry.d.ask('DATA');
    await retry.d.send('Subject: greylisted\r\n\r\nretried\r\n.\r\n');
    assert.equal((await retry.d.expect(250)).code, 250);
    assert.equal((await listMail(facteur.maildirRoot, 'alice')).length, 1);

    clock.advance(10 * 86_400_000);
    assert.equal((await rcpt(facteur, 's@client.example', 'alice@example.org')).reply, '250 2.1.5');
    // Another sender, or another recipient, is another triple.
    assert.equal((await rcpt(facteur, 'other@client.example', 'alice@example.org')).reply, '451 4.7.1');
    assert.equal((await rcpt(facteur, 's@client.example', 'a2@example.org')).reply, '451 4.7.1');
  });

  test('the triple is remembered across a restart of the server', async (t) => {
    const clock = testClock();
    const prepared = await prepareFacteur({ toml: GREYLIST, users: USERS });
    t.after(() => prepared.cleanup());

    const before = await startFacteur({ prepared, now: clock.now });
    assert.equal((await rcpt(before, 's@client.example', 'alice@example.org')).reply, '451 4.7.1');
    await before.stop();
    const file = join(prepared.dataDir, 'greylist.json');
    assert.equal((await stat(file)).mode & 0o777, 0o600);

    clock.advance(5 * MIN);
    const after = await startFacteur({ prepared, now: clock.now });
    t.after(() => after.stop());
    // A server that had forgotten the first attempt would answer 451 again.
    assert.equal((await rcpt(after, 's@client.example', 'alice@example.org')).reply, '250 2.1.5');
  });

  test('postmaster, unknown users (550 first), exempt networks, and a network that retried properly are not greylisted', async (t) => {
    const clock = testClock();
    const facteur = await startFacteur({ toml: GREYLIST, users: USERS, now: clock.now });
    t.after(() => facteur.stop());
    assert.equal((await rcpt(facteur, 's@client.example', 'postmaster@example.org')).reply, '250 2.1.5');
    assert.equal((await rcpt(facteur, '', 'postmaster')).reply, '250 2.1.5');
    assert.equal((await rcpt(facteur, 's@client.example', 'nobody@example.org')).reply, '550 5.1.1');

    // Two triples passed by retrying (greylist_auto_whitelist = 2): the network is trusted for a new one.
    for (const to of ['alice@example.org', 'a2@example.org']) assert.equal((await rcpt(facteur, 's@client.example', to)).reply, '451 4.7.1');
    clock.advance(5 * MIN);
    for (const to of ['alice@example.org', 'a2@example.org']) assert.equal((await rcpt(facteur, 's@client.example', to)).reply, '250 2.1.5');
    assert.equal((await rcpt(facteur, 'new@client.example', 'a3@example.org')).reply, '250 2.1.5');

    const exempt = await startFacteur({ toml: GREYLIST.replace('limits_exempt = []', 'limits_exempt = ["127.0.0.0/8"]'), users: USERS, now: clock.now });
    t.after(() => exempt.stop());
    assert.equal((await rcpt(exempt, 's@client.example', 'alice@example.org')).reply, '250 2.1.5');
  });
});
