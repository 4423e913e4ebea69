// The relay's DKIM signatures in their own thread (src/mailauth/threaded-signing.ts), as the servers make them: the
// requests of one turn cross over as one message, the signatures are node:crypto's own (the same octets as the
// thread pool's: RSA PKCS #1 v1.5 and Ed25519 are deterministic), and whatever the thread cannot answer (it died, it
// is paused after dying young, the program is stopping) is signed in the pool instead, never lost.
import assert from 'node:assert/strict';
import { generateKeyPairSync, verify, type KeyObject } from 'node:crypto';
import { describe, test } from 'node:test';
import { DkimKeys } from '../../../src/mailauth/dkim-keys.js';
import { DkimSigner } from '../../../src/mailauth/dkim-signer.js';
import { poolSign, ThreadedSigning } from '../../../src/mailauth/threaded-signing.js';
import type { Logger } from '../../../src/observability/logger.js';
import { ManualTime } from '../../helpers/queue-fixtures.js';

const CRASHING = new URL('../../helpers/crashing-signing-thread.js', import.meta.url);
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ed = generateKeyPairSync('ed25519');

/** A clock the test moves, and the error lines logged. */
function harness() {
  let t = 1_000_000;
  const died: Record<string, unknown>[] = [];
  const logger = { error: (fields: Record<string, unknown>) => died.push(fields) } as unknown as Logger;
  return { died, logger, now: () => t, advance: (ms: number) => (t += ms) };
}

/** Runs `body` with a ThreadedSigning made from `opts`, closed after. */
async function withSigning(opts: ConstructorParameters<typeof ThreadedSigning>[0], body: (signing: ThreadedSigning) => Promise<void>): Promise<void> {
  const signing = new ThreadedSigning(opts);
  try {
    await body(signing);
  } finally {
    await signing.close();
  }
}

const rsaVerifies = (data: Buffer, sig: Buffer, key: KeyObject = rsa.publicKey) => verify('sha256', data, key, sig);

describe('DKIM signatures in their own thread', () => {
  test('RSA and Ed25519: the thread gives the pool\'s very octets, and they verify', async () => {
    await withSigning({}, async (signing) => {
      const data = Buffer.from('from:alice@example.org\r\ndkim-signature:v=1; b=');
      const [r, e] = await Promise.all([signing.sign('sha256', data, rsa.privateKey), signing.sign(null, data, ed.privateKey)]);
      assert.deepEqual(r, await poolSign('sha256', data, rsa.privateKey));
      assert.deepEqual(e, await poolSign(null, data, ed.privateKey));
      assert.ok(rsaVerifies(data, r));
      assert.ok(verify(null, data, ed.publicKey, e));
    });
  });

  test('many at once, with two keys: each request gets its own signature', async () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await withSigning({}, async (signing) => {
      const jobs = Array.from({ length: 40 }, (_, i) => {
        const data = Buffer.from(`message ${i}`);
        const pair = i % 2 === 0 ? rsa : other;
        return signing.sign('sha256', data, pair.privateKey).then((sig) => rsaVerifies(data, sig, pair.publicKey));
      });
      assert.deepEqual(await Promise.all(jobs), Array(40).fill(true));
    });
  });

  test('a request node:crypto refuses is refused, as the pool would, and the thread goes on', async () => {
    await withSigning({}, async (signing) => {
      // Ed25519 takes no separate hash: node:crypto says so.
      await assert.rejects(signing.sign('sha256', Buffer.from('x'), ed.privateKey), (err: Error) => err instanceof Error && err.message.length > 0);
      await assert.rejects(poolSign('sha256', Buffer.from('x'), ed.privateKey));
      const data = Buffer.from('after');
      assert.ok(rsaVerifies(data, await signing.sign('sha256', data, rsa.privateKey)));
    });
  });

  test('the requests of one turn of the event loop cross over as one message; a later one goes alone', async () => {
    await withSigning({ script: CRASHING }, async (signing) => {
      const batch = await Promise.all(Array.from({ length: 5 }, (_, i) => signing.sign('sha256', Buffer.from(`m${i}`), rsa.privateKey)));
      assert.deepEqual(batch.map((b) => b.toString()), Array(5).fill('fixture 5'));
      assert.equal((await signing.sign('sha256', Buffer.from('late'), rsa.privateKey)).toString(), 'fixture 1');
    });
  });

  test('a thread that dies: what it held is signed in the pool; after a pause, the next ones go to a new thread', async () => {
    const h = harness();
    await withSigning({ script: CRASHING, logger: h.logger, now: h.now }, async (signing) => {
      // One batch: one request the thread holds unanswered, one that kills it, one it never reached.
      const texts = ['hang: held by the thread', 'crash', 'after the crash'].map((t) => Buffer.from(t));
      const signatures = await Promise.all(texts.map((t) => signing.sign('sha256', t, rsa.privateKey)));
      // Each came back a real signature, made in the pool, not the fixture's text.
      texts.forEach((t, i) => assert.ok(rsaVerifies(t, signatures[i] as Buffer)));
      assert.equal(h.died.length, 1);
      assert.equal(h.died[0]?.event, 'signing-thread-died');
      assert.equal(h.died[0]?.restart_in_ms, 1000); // it died young: no new thread for a second
      // Within the pause: the pool, no thread started (a second death would be a second line).
      const paused = Buffer.from('paused');
      assert.ok(rsaVerifies(paused, await signing.sign('sha256', paused, rsa.privateKey)));
      h.advance(1001);
      assert.equal((await signing.sign('sha256', Buffer.from('next'), rsa.privateKey)).toString(), 'fixture 1');
      assert.equal(h.died.length, 1);
    });
  });

  test('a thread that keeps dying young is started again after pauses that double, up to a minute', async () => {
    const h = harness();
    await withSigning({ script: CRASHING, logger: h.logger, now: h.now }, async (signing) => {
      const pauses: unknown[] = [];
      for (let i = 0; i < 8; i++) {
        await signing.sign('sha256', Buffer.from('crash'), rsa.privateKey);
        pauses.push(h.died.at(-1)?.restart_in_ms);
        h.advance(Number(h.died.at(-1)?.restart_in_ms) + 1);
      }
      assert.deepEqual(pauses, [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000]);
      // A thread that lives past its youth and then dies is replaced at once.
      assert.equal((await signing.sign('sha256', Buffer.from('fine'), rsa.privateKey)).toString(), 'fixture 1');
      h.advance(10_000);
      await signing.sign('sha256', Buffer.from('crash'), rsa.privateKey);
      assert.equal(h.died.at(-1)?.restart_in_ms, undefined);
      assert.equal((await signing.sign('sha256', Buffer.from('again'), rsa.privateKey)).toString(), 'fixture 1');
    });
  });

  test('a thread with nothing to sign for 100 s is stopped; the next signature starts one again', async () => {
    const t = new ManualTime();
    await withSigning({ script: CRASHING, now: t.read, timers: t }, async (signing) => {
      assert.equal(signing.running, false); // none before the first signature
      assert.equal((await signing.sign('sha256', Buffer.from('a'), rsa.privateKey)).toString(), 'fixture 1');
      assert.equal(signing.running, true);
      t.advanceTo(t.now + 99_999);
      assert.equal(signing.running, true);
      t.advanceTo(t.now + 1);
      assert.equal(signing.running, false);
      assert.equal((await signing.sign('sha256', Buffer.from('b'), rsa.privateKey)).toString(), 'fixture 1');
      assert.equal(signing.running, true);
    });
  });

  test('a thread still holding a request is not stopped as idle', async () => {
    const t = new ManualTime();
    await withSigning({ script: CRASHING, now: t.read, timers: t }, async (signing) => {
      await signing.sign('sha256', Buffer.from('a'), rsa.privateKey); // idle from here: the stop is armed
      const held = signing.sign('sha256', Buffer.from('hang: never answered'), rsa.privateKey); // and disarmed
      await new Promise((resolve) => setImmediate(resolve)); // the request has gone to the thread
      t.advanceTo(t.now + 1_000_000);
      assert.equal(signing.running, true);
      await signing.close(); // signed in the pool
      assert.ok(rsaVerifies(Buffer.from('hang: never answered'), await held));
    });
  });

  test('close(): a request the thread has not answered, and later ones, are signed in the pool', async () => {
    const signing = new ThreadedSigning({ script: CRASHING });
    const waiting = signing.sign('sha256', Buffer.from('hang: asked, then closed'), rsa.privateKey);
    await new Promise((resolve) => setImmediate(resolve)); // the request has gone to the thread
    await signing.close();
    assert.ok(rsaVerifies(Buffer.from('hang: asked, then closed'), await waiting));
    const later = Buffer.from('after close');
    assert.ok(rsaVerifies(later, await signing.sign('sha256', later, rsa.privateKey)));
  });

  test('a DkimSigner using the thread writes the same fields as one using the pool', async () => {
    const keys = new DkimKeys([
      { domain: 'example.org', selector: 'r', algorithm: 'rsa-sha256', privateKey: rsa.privateKey, file: '' },
      { domain: 'example.org', selector: 'e', algorithm: 'ed25519-sha256', privateKey: ed.privateKey, file: '' },
    ]);
    const now = () => new Date('2026-12-03T12:00:00Z');
    await withSigning({}, async (signing) => {
      const message = Buffer.from('From: alice@example.org\r\nTo: bob@example.net\r\nSubject: hi\r\n\r\nHello.\r\n');
      const threaded = await new DkimSigner({ keys, now, sign: signing.sign }).sign(message, 'example.org');
      const pooled = await new DkimSigner({ keys, now }).sign(message, 'example.org');
      assert.match(threaded.fields, /a=rsa-sha256[\s\S]*a=ed25519-sha256/);
      assert.equal(threaded.fields, pooled.fields);
    });
  });
});
