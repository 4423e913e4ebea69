// DkimSigner: what is signed (h= with From: over-signed, no l=, t=), for which domain, and what is skipped; verified
// by mailauth's verifier here (dkimpy checks the same output in test/interop/dkim-python.test.ts).
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, test } from 'node:test';
import { DkimCheck } from '../../../src/mailauth/dkim-check.js';
import { DkimKeys, type DkimKey } from '../../../src/mailauth/dkim-keys.js';
import { DkimSigner } from '../../../src/mailauth/dkim-signer.js';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ed = generateKeyPairSync('ed25519');
const key = (domain: string, selector: string, pair: { privateKey: KeyObject }, algorithm: DkimKey['algorithm']): DkimKey => ({ domain, selector, algorithm, privateKey: pair.privateKey, file: '' });
const KEYS = new DkimKeys([key('example.org', 'r', rsa, 'rsa-sha256'), key('example.org', 'e', ed, 'ed25519-sha256')]);
const NOW = new Date('2026-11-24T13:14:15Z');
const signer = new DkimSigner({ keys: KEYS, now: () => NOW });

const TXT: Record<string, string[][]> = {
  'r._domainkey.example.org': [[`v=DKIM1; k=rsa; p=${rsa.publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`]],
  'e._domainkey.example.org': [[`v=DKIM1; k=ed25519; p=${ed.publicKey.export({ type: 'spki', format: 'der' }).subarray(12).toString('base64')}`]],
};
const resolve = async (name: string): Promise<string[][]> => {
  const v = TXT[name];
  if (v === undefined) throw Object.assign(new Error(`no ${name}`), { code: 'ENOTFOUND' });
  return v;
};

async function verify(message: string): Promise<string[]> {
  const check = new DkimCheck(resolve);
  await check.write(Buffer.from(message));
  return (await check.finish()).results.map((r) => r.status.result);
}

const MESSAGE = 'From: Alice <alice@example.org>\nTo: bob@example.net\nSubject: hi\nX-Mailer: x\nList-Unsubscribe: <mailto:u@example.org>\n\nHello\n';

describe('DkimSigner', () => {
  test('one signature per key, relaxed/relaxed, t= from the clock, no l=; both verify', async () => {
    const r = await signer.sign(Buffer.from(MESSAGE), 'example.org');
    assert.equal(r.domain, 'example.org');
    assert.equal(r.skipped, null);
    const fields = r.fields.split(/\n(?=DKIM-Signature:)/);
    assert.equal(fields.length, 2);
    assert.ok(r.fields.endsWith('\n') && !r.fields.includes('\r'), 'LF line endings');
    for (const f of fields) {
      assert.match(f, /c=relaxed\/relaxed/);
      assert.match(f, new RegExp(`t=${NOW.getTime() / 1000};`));
      assert.doesNotMatch(f, /[;\s]l=/);
    }
    assert.match(fields[0] as string, /a=rsa-sha256/);
    assert.match(fields[1] as string, /a=ed25519-sha256/);
    assert.deepEqual(await verify(r.fields + MESSAGE), ['pass', 'pass']);
  });

  test('h= lists the signed fields present, From: once more than it appears, and not the others', async () => {
    const r = await signer.sign(Buffer.from(MESSAGE), 'example.org');
    const h = /h=([^;]+);/.exec(r.fields.replace(/\n /g, ' '))?.[1]?.split(':').map((s) => s.trim().toLowerCase());
    assert.deepEqual(h, ['list-unsubscribe', 'subject', 'to', 'from', 'from']);
  });

  test('LF and CRLF line endings give the same signature', async () => {
    const lf = await signer.sign(Buffer.from(MESSAGE), 'example.org');
    const crlf = await signer.sign(Buffer.from(MESSAGE.replace(/\n/g, '\r\n')), 'example.org');
    assert.equal(lf.fields, crlf.fields);
  });

  test('start(): the From: domain is read from the message as it streams', async () => {
    const run = signer.start();
    for (const c of MESSAGE.match(/[\s\S]{1,3}/g) ?? []) run.write(Buffer.from(c));
    const r = await run.finish();
    assert.equal(r.domain, 'example.org');
    assert.deepEqual(await verify(r.fields + MESSAGE), ['pass', 'pass']);
  });

  const skips: [string, string, string][] = [
    ['a From: domain without a key', MESSAGE.replace('alice@example.org', 'alice@example.net'), 'no-key'],
    ['a subdomain (only bounces may use a parent key)', MESSAGE.replace('alice@example.org', 'alice@sub.example.org'), 'no-key'],
    ['no From:', MESSAGE.replace(/^From: .*\n/, ''), 'no-from-domain'],
    ['two From: fields', `From: x@example.org\n${MESSAGE}`, 'no-from-domain'],
    ['a header section past 256 KiB', `X-Big: ${'b'.repeat(300 * 1024)}\n${MESSAGE}`, 'header-too-large'],
  ];
  for (const [name, message, why] of skips) {
    test(`nothing is signed for ${name}`, async () => {
      const run = signer.start();
      run.write(Buffer.from(message));
      assert.deepEqual(await run.finish(), { fields: '', domain: null, skipped: why });
    });
  }

  test('a bounce from mx.example.org is signed with the keys of the listed parent example.org', async () => {
    const bounce = 'From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\nTo: alice@example.org\nSubject: failed\n\nsorry\n';
    assert.equal((await signer.sign(Buffer.from(bounce), 'mx.example.org')).skipped, 'no-key');
    const r = await signer.sign(Buffer.from(bounce), 'mx.example.org', { parents: true });
    assert.equal(r.domain, 'example.org');
    assert.deepEqual(await verify(r.fields + bounce), ['pass', 'pass']);
  });

  test('a message without body, and one without even a final line ending', async () => {
    for (const m of ['From: a@example.org\nSubject: s\n', 'From: a@example.org\nSubject: s']) {
      const r = await signer.sign(Buffer.from(m), 'example.org');
      assert.deepEqual(await verify(r.fields + m), ['pass', 'pass'], JSON.stringify(m));
    }
  });

  test('a 100 MiB message is signed in a few MiB of memory: only the header section is kept', async () => {
    const run = signer.start();
    run.write(Buffer.from('From: a@example.org\nSubject: big\n\n'));
    const line = Buffer.from(`${'0123456789abcdef'.repeat(4)}  \t x\n`.repeat(16 * 1024)); // ~1 MiB, whitespace to canonicalise
    const before = process.memoryUsage().arrayBuffers;
    let peak = 0;
    for (let i = 0; i < 100; i++) {
      run.write(line);
      peak = Math.max(peak, process.memoryUsage().arrayBuffers - before);
    }
    const r = await run.finish();
    assert.equal(r.domain, 'example.org');
    assert.ok(peak < 8 * 1024 * 1024, `${peak} bytes`);
  });
});
