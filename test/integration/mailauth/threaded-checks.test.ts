// The inbound checks in their own thread (src/mailauth/threaded-checks.ts), as the server runs them: messages cross
// over in batches, the thread asks a DNS server on loopback through its own resolver, the verdicts and the lookups
// come back; a thread that dies gives temperror to the messages it held and is replaced for the next ones.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DkimSigner } from '../../../src/mailauth/dkim-signer.js';
import type { SessionFacts } from '../../../src/mailauth/message-checks.js';
import type { Logger } from '../../../src/observability/logger.js';
import { ThreadedChecks } from '../../../src/mailauth/threaded-checks.js';
import { makeTestKeys, type TestKeys } from '../../helpers/dkim.js';
import { ManualTime } from '../../helpers/queue-fixtures.js';
import { startDnsServer, type DnsServer } from '../../helpers/dns-server.js';

const HELO = 'client.sender.example';
const FACTS: SessionFacts = { clientIp: '127.0.0.1', helo: HELO, mailFrom: 'alice@sender.example' };
const CRASHING = new URL('../../helpers/crashing-checks-thread.js', import.meta.url);

function letter(from: string, body: string): string {
  return [`From: ${from}`, 'To: bob@example.org', 'Subject: hello', 'Date: Tue, 24 Nov 2026 13:14:00 +0000', 'Message-ID: <t@sender.example>', '', body].join('\n');
}

/** `text` in chunks of `size` octets, each written then overwritten (the caller's buffer is its own again). */
async function check(checks: ThreadedChecks, facts: SessionFacts, text: Buffer, size = 16 * 1024) {
  const run = checks.start(facts);
  for (let i = 0; i < text.length; i += size) {
    const chunk = Buffer.from(text.subarray(i, i + size));
    const wait = run.write(chunk);
    chunk.fill(0x41);
    if (wait !== undefined) await wait;
  }
  return run.finish();
}

describe('the inbound checks in their own thread', () => {
  let dns: DnsServer;
  let keys: TestKeys;
  let signer: DkimSigner;
  let checks: ThreadedChecks;
  const lookups: string[] = [];
  before(async () => {
    keys = await makeTestKeys([
      ['sender.example', 'rsa1', 'rsa'],
      ['sender.example', 'ed1', 'ed25519'],
    ]);
    signer = new DkimSigner({ keys: keys.keys });
    dns = await startDnsServer({
      'sender.example': { TXT: ['v=spf1 ip4:127.0.0.1 -all'] },
      '_dmarc.sender.example': { TXT: ['v=DMARC1; p=reject'] },
      [HELO]: { A: ['127.0.0.1'], TXT: ['v=spf1 a -all'] },
      'bank.example': { TXT: ['v=spf1 -all'] },
      '_dmarc.bank.example': { TXT: ['v=DMARC1; p=reject'] },
      ...keys.txt,
    });
    checks = new ThreadedChecks({ dns: { servers: [dns.address] }, hostname: 'mx.test', dmarcPolicy: 'enforce' }, { onLookup: (type, result) => lookups.push(`${type} ${result}`) });
  });
  after(async () => {
    await checks?.close();
    await dns?.close();
    if (keys !== undefined) await rm(dirname(keys.keyDir), { recursive: true, force: true });
  });

  const signed = async (text: string) => {
    const r = await signer.sign(Buffer.from(text), 'sender.example');
    return Buffer.from(r.fields + text);
  };

  test('a signed message: every check passes, the header names us, the lookups are reported', async () => {
    const o = await check(checks, FACTS, await signed(letter('Alice <alice@sender.example>', 'Hello Bob.\n')));
    assert.equal(o.summary, 'spf=pass dkim=pass,pass dmarc=pass arc=none');
    assert.equal(o.verdict, 'accept');
    assert.equal(o.error, undefined);
    assert.match(o.header, /^Authentication-Results: mx\.test;\n /);
    assert.ok(lookups.includes('TXT ok'), lookups.join(', '));
    assert.ok(dns.questions.includes('_dmarc.sender.example TXT'));
  });

  test('a message larger than one batch, in 16 KiB chunks, is checked whole (its body hash verifies)', async () => {
    const body = `${'A line of the body, long enough to fill the batches quickly.\n'.repeat(6000)}`;
    const text = await signed(letter('Alice <alice@sender.example>', body));
    assert.ok(text.length > 300 * 1024);
    const o = await check(checks, FACTS, text);
    assert.equal(o.summary, 'spf=pass dkim=pass,pass dmarc=pass arc=none');
  });

  test('a forged From: of a p=reject domain: the verdict refuses it with 550 5.7.1', async () => {
    const o = await check(checks, { ...FACTS, mailFrom: 'mallory@sender.example' }, Buffer.from(letter('Bank <security@bank.example>', 'Verify.\n')));
    assert.equal(o.verdict, 'reject');
    assert.equal(o.reply?.code, 550);
    assert.equal(o.reply?.enhanced, '5.7.1');
  });

  test('many messages at once, interleaved: each gets its own verdict', async () => {
    const good = await signed(letter('Alice <alice@sender.example>', 'Hello.\n'));
    const forged = Buffer.from(letter('Bank <security@bank.example>', 'Verify.\n'));
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => check(checks, FACTS, i % 2 === 0 ? good : forged, 64)));
    results.forEach((o, i) => assert.equal(o.verdict, i % 2 === 0 ? 'accept' : 'reject', `message ${i}`));
  });

  test('an aborted message is dropped, and the thread goes on with the next ones', async () => {
    const run = checks.start(FACTS);
    run.write(Buffer.from('From: a@sender.example\n'));
    run.abort?.();
    const o = await check(checks, FACTS, await signed(letter('Alice <alice@sender.example>', 'After an abort.\n')));
    assert.equal(o.verdict, 'accept');
  });
});

describe('when the checks thread dies', () => {
  /** A clock the test moves, and the error lines the checks log. */
  const harness = () => {
    let t = 1_000_000;
    const died: Record<string, unknown>[] = [];
    const logger = { error: (fields: Record<string, unknown>) => died.push(fields) } as unknown as Logger;
    return { died, logger, now: () => t, advance: (ms: number) => (t += ms) };
  };

  test('the messages it held get temperror and are accepted; after a pause, the next message gets a new thread', async () => {
    const seen: string[] = [];
    const h = harness();
    const checks = new ThreadedChecks({ dns: { servers: ['127.0.0.1:9'] }, hostname: 'mx.test', dmarcPolicy: 'enforce' }, { script: CRASHING, onLookup: (t, r) => seen.push(`${t} ${r}`), logger: h.logger, now: h.now });
    try {
      const writing = checks.start({ ...FACTS, helo: 'ok.example' });
      writing.write(Buffer.alloc(70 * 1024, 0x61)); // one batch already in the thread when it dies
      const doomed = await check(checks, { ...FACTS, helo: 'crash.example' }, Buffer.from('Subject: x\n\nx\n'));
      assert.equal(doomed.verdict, 'accept');
      assert.match(doomed.summary, /^checks failed: /);
      assert.ok(doomed.error instanceof Error);
      assert.match(doomed.header, /^Authentication-Results: mx\.test;/);
      assert.match(doomed.header, /spf=temperror/);
      assert.match(doomed.header, /dkim=temperror/);
      assert.match(doomed.header, /dmarc=temperror/);
      assert.equal(h.died.length, 1);
      assert.equal(h.died[0]?.event, 'checks-thread-died');
      assert.equal(h.died[0]?.restart_in_ms, 1000); // it died young: no new thread for a second
      // Started on the thread that died: it cannot be finished there, nor on a new one.
      const orphan = await writing.finish();
      assert.match(orphan.summary, /^checks failed: /);
      // Within the pause: temperror at once, no thread started (a second death would be a second line).
      const paused = await check(checks, FACTS, Buffer.from('Subject: p\n\np\n'));
      assert.match(paused.summary, /^checks failed: the checks thread is not running/);
      h.advance(1001);
      const next = await check(checks, FACTS, Buffer.from('Subject: y\n\ny\n'));
      assert.equal(next.summary, 'fixture');
      assert.deepEqual(seen, ['TXT ok']);
      assert.equal(h.died.length, 1);
    } finally {
      await checks.close();
    }
  });

  test('a thread that keeps dying young is started again after pauses that double, up to a minute', async () => {
    const h = harness();
    const checks = new ThreadedChecks({ dns: { servers: ['127.0.0.1:9'] }, hostname: 'mx.test', dmarcPolicy: 'enforce' }, { script: CRASHING, logger: h.logger, now: h.now });
    try {
      const pauses: unknown[] = [];
      for (let i = 0; i < 8; i++) {
        const o = await check(checks, { ...FACTS, helo: 'crash.example' }, Buffer.from('Subject: x\n\nx\n'));
        assert.match(o.summary, /^checks failed: /);
        pauses.push(h.died.at(-1)?.restart_in_ms);
        h.advance(Number(h.died.at(-1)?.restart_in_ms) + 1);
      }
      assert.deepEqual(pauses, [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000]);
      // A thread that lives past its youth and then dies is replaced at once.
      const fine = await check(checks, FACTS, Buffer.from('Subject: y\n\ny\n'));
      assert.equal(fine.summary, 'fixture');
      h.advance(10_000);
      await check(checks, { ...FACTS, helo: 'crash.example' }, Buffer.from('Subject: x\n\nx\n'));
      assert.equal(h.died.at(-1)?.restart_in_ms, undefined);
      assert.equal((await check(checks, FACTS, Buffer.from('Subject: z\n\nz\n'))).summary, 'fixture');
    } finally {
      await checks.close();
    }
  });

  test('the steps of one turn of the event loop cross over as one message, whatever the sessions they come from', async () => {
    const checks = new ThreadedChecks({ dns: { servers: ['127.0.0.1:9'] }, hostname: 'mx.test', dmarcPolicy: 'enforce' }, { script: CRASHING });
    try {
      // Five messages started, written and finished in the same turn: one message to the thread.
      const runs = Array.from({ length: 5 }, (_, i) => {
        const run = checks.start(FACTS);
        run.write(Buffer.from(`Subject: ${i}\n\n${i}\n`));
        return run.finish();
      });
      for (const o of await Promise.all(runs)) assert.match(o.header, /steps in its batch: 5\)$/);
      // One finished in a later turn goes alone.
      const later = await check(checks, FACTS, Buffer.from('Subject: z\n\nz\n'));
      assert.match(later.header, /steps in its batch: 1\)$/);
    } finally {
      await checks.close();
    }
  });

  test('a thread that lags: writers wait once the octets it has not read pass the bound, then go on', async () => {
    const checks = new ThreadedChecks({ dns: { servers: ['127.0.0.1:9'] }, hostname: 'mx.test', dmarcPolicy: 'enforce' }, { script: CRASHING, maxInFlight: 256 * 1024 });
    try {
      const run = checks.start({ ...FACTS, helo: 'slow.example' });
      let waits = 0;
      for (let i = 0; i < 64; i++) {
        const wait = run.write(Buffer.alloc(64 * 1024, 0x61)); // each write fills a batch: 4 MiB in all
        if (wait !== undefined) {
          waits++;
          await wait;
        }
      }
      assert.ok(waits > 0, 'the writer was made to wait');
      assert.equal((await run.finish()).summary, 'fixture');
    } finally {
      await checks.close();
    }
  });

  test('a thread that dies while a writer waits for room: the writer goes on, the message gets temperror', async () => {
    const h = harness();
    const checks = new ThreadedChecks({ dns: { servers: ['127.0.0.1:9'] }, hostname: 'mx.test', dmarcPolicy: 'enforce' }, { script: CRASHING, maxInFlight: 64 * 1024, logger: h.logger, now: h.now });
    try {
      const lagging = checks.start({ ...FACTS, helo: 'slow.example' });
      lagging.write(Buffer.alloc(64 * 1024, 0x61));
      const waiting = lagging.write(Buffer.alloc(64 * 1024, 0x61));
      assert.ok(waiting !== undefined, 'over the bound: the writer waits');
      const doomed = await check(checks, { ...FACTS, helo: 'crash.example' }, Buffer.from('Subject: x\n\nx\n'));
      assert.match(doomed.summary, /^checks failed: /);
      await waiting; // released (by the thread's death, or a read that came before it), never left hanging
      assert.match((await lagging.finish()).summary, /^checks failed: /);
    } finally {
      await checks.close();
    }
  });

  /** Runs `body` with checks on the fixture thread whose clock and timers (the idle stop's) the test moves. */
  async function withIdleClock(body: (checks: ThreadedChecks, t: ManualTime) => Promise<void>): Promise<void> {
    const t = new ManualTime();
    const checks = new ThreadedChecks({ dns: { servers: ['127.0.0.1:9'] }, hostname: 'mx.test', dmarcPolicy: 'enforce' }, { script: CRASHING, now: t.read, timers: t });
    try {
      await body(checks, t);
    } finally {
      await checks.close();
    }
  }

  test('a thread with nothing to do for 100 s is stopped; the next message starts one again', async () => {
    await withIdleClock(async (checks, t) => {
      assert.equal(checks.running, false); // none before the first message
      assert.equal((await check(checks, FACTS, Buffer.from('Subject: a\n\na\n'))).summary, 'fixture');
      assert.equal(checks.running, true);
      t.advanceTo(t.now + 99_999);
      assert.equal(checks.running, true);
      t.advanceTo(t.now + 1);
      assert.equal(checks.running, false);
      assert.equal((await check(checks, FACTS, Buffer.from('Subject: b\n\nb\n'))).summary, 'fixture');
      assert.equal(checks.running, true);
    });
  });

  test('a thread with a message part-way through is not stopped as idle, however long the message takes', async () => {
    await withIdleClock(async (checks, t) => {
      await check(checks, FACTS, Buffer.from('Subject: a\n\na\n')); // idle from here: the stop is armed
      const long = checks.start(FACTS);
      long.write(Buffer.alloc(70 * 1024, 0x61)); // a first batch goes to the thread: no longer idle
      // Another message's verdict comes after the thread has read the first batch: it answered that, and is not idle.
      assert.equal((await check(checks, FACTS, Buffer.from('Subject: b\n\nb\n'))).summary, 'fixture');
      t.advanceTo(t.now + 1_000_000);
      assert.equal(checks.running, true);
      assert.equal((await long.finish()).summary, 'fixture'); // finished on the thread it started on
      t.advanceTo(t.now + 100_000); // and now idle again
      assert.equal(checks.running, false);
    });
  });

  test('a message aborted part-way does not keep the thread from being stopped as idle', async () => {
    await withIdleClock(async (checks, t) => {
      const dropped = checks.start(FACTS);
      dropped.write(Buffer.alloc(70 * 1024, 0x61));
      dropped.abort?.();
      dropped.abort?.(); // twice (a session that fails, then closes): counted once
      assert.equal((await check(checks, FACTS, Buffer.from('Subject: a\n\na\n'))).summary, 'fixture');
      t.advanceTo(t.now + 100_000);
      assert.equal(checks.running, false);
    });
  });

  test('close(): a message waiting for its verdict gets temperror, and later messages too, at once', async () => {
    const checks = new ThreadedChecks({ dns: { servers: ['127.0.0.1:9'] }, hostname: 'mx.test', dmarcPolicy: 'enforce' }, { script: CRASHING });
    const run = checks.start({ ...FACTS, helo: 'never-answered.example' });
    run.write(Buffer.from('Subject: z\n\nz\n'));
    // Asked, then closed at once: the thread's answer can only come after close() has given the verdict.
    const waiting = run.finish();
    await checks.close();
    const o = await waiting;
    assert.match(o.summary, /^checks failed: /);
    const later = await check(checks, FACTS, Buffer.from('Subject: w\n\nw\n'));
    assert.match(later.summary, /^checks failed: the server is stopping/);
  });
});
