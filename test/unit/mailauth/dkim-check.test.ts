// DkimCheck: verification as the message streams, in bounded memory; the checks of RFC 6376 §6.1.1 that decide
// whether a signature is considered at all; key records parsed once.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, test } from 'node:test';
import { DkimCheck } from '../../../src/mailauth/dkim-check.js';
import { DkimKeys } from '../../../src/mailauth/dkim-keys.js';
import { DkimKeyCache } from '../../../src/mailauth/dkim-public-key.js';
import { MAX_SIGNATURES } from '../../../src/mailauth/dkim-verifier.js';
import { DkimSigner } from '../../../src/mailauth/dkim-signer.js';

const ed = generateKeyPairSync('ed25519');
const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
const signer = new DkimSigner({ keys: new DkimKeys([{ domain: 'example.org', selector: 's', algorithm: 'ed25519-sha256', privateKey: ed.privateKey, file: '' }]) });
const ED_RECORD = `v=DKIM1; k=ed25519; p=${ed.publicKey.export({ type: 'spki', format: 'der' }).subarray(12).toString('base64')}`;

function resolverFor(records: Record<string, string[][] | Error>) {
  const asked: string[] = [];
  const resolve = async (name: string, rrtype: string) => {
    asked.push(`${name} ${rrtype}`);
    const r = records[name];
    if (r === undefined) throw Object.assign(new Error('no'), { code: 'ENOTFOUND' });
    if (r instanceof Error) throw r;
    return r;
  };
  return { resolve, asked };
}

async function results(message: string | Buffer, records: Record<string, string[][] | Error> = { 's._domainkey.example.org': [[ED_RECORD]] }, keys = new DkimKeyCache()) {
  const check = new DkimCheck(resolverFor(records).resolve, keys);
  await check.write(Buffer.isBuffer(message) ? message : Buffer.from(message));
  return (await check.finish()).results.map((r) => `${r.status.result}${r.status.comment ? ` (${r.status.comment})` : ''}`);
}

const MESSAGE = 'From: a@example.org\nSubject: s\n\nbody\n';
const signed = async (m = MESSAGE) => (await signer.sign(Buffer.from(m), 'example.org')).fields + m;

describe('DkimCheck', () => {
  test('pass; and "none" for an unsigned message', async () => {
    assert.deepEqual(await results(await signed()), ['pass']);
    assert.deepEqual(await results(MESSAGE), ['none (message not signed)']);
  });

  const tampered: [string, (m: string) => string, string][] = [
    ['h= without From: is not considered (§6.1.1)', (m) => m.replace(/h=[^;]*;/, 'h=Subject;'), 'permerror (From: not signed)'],
    ['an i= outside d=', (m) => m.replace('d=example.org;', 'd=example.org; i=@evil.example;'), 'permerror (i= is not within d=)'],
    ['an unknown algorithm', (m) => m.replace('a=ed25519-sha256', 'a=dsa-sha256'), 'permerror (unsupported or malformed signature)'],
    ['rsa-sha1 (RFC 8301)', (m) => m.replace('a=ed25519-sha256', 'a=rsa-sha1'), 'permerror (rsa-sha1 is not accepted (RFC 8301))'],
    ['a changed body', (m) => m.replace('body', 'Body'), 'fail (body hash did not verify)'],
    ['a changed signed field', (m) => m.replace('Subject: s', 'Subject: t'), 'fail (bad signature)'],
    ['a tag added to the signature field', (m) => m.replace(/t=(\d+);/, 't=$1; x=1000;'), 'fail (bad signature)'],
  ];
  for (const [name, change, want] of tampered) {
    test(name, async () => assert.deepEqual(await results(change(await signed())), [want]));
  }

  const keyProblems: [string, string[][] | Error, string][] = [
    ['no key record', [], 'permerror (no key)'],
    ['a revoked key (empty p=)', [['v=DKIM1; k=ed25519; p=']], 'permerror (key revoked)'],
    ['a key of another type', [[`v=DKIM1; k=rsa; p=${rsa.publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`]], 'permerror (the key type does not match a=)'],
    ['a key whose h= excludes sha256', [[`${ED_RECORD}; h=sha1`]], 'permerror (the key does not allow this hash algorithm)'],
    ['an unknown version', [['v=DKIM2; p=abc']], 'permerror (unknown key version)'],
    ['garbage in p=', [['v=DKIM1; k=ed25519; p=!!!']], 'permerror (invalid public key)'],
    ['SERVFAIL', Object.assign(new Error('servfail'), { code: 'ESERVFAIL' }), 'temperror (DNS failure: ESERVFAIL)'],
  ];
  for (const [name, record, want] of keyProblems) {
    test(name, async () => assert.deepEqual(await results(await signed(), { 's._domainkey.example.org': record }), [want]));
  }

  test('a key record is parsed once for every message that uses it', async () => {
    const cache = new DkimKeyCache();
    const records = { 's._domainkey.example.org': [[ED_RECORD]] };
    const first = await cache.lookup(resolverFor(records).resolve, 's._domainkey.example.org');
    const again = await cache.lookup(resolverFor(records).resolve, 's._domainkey.example.org');
    assert.ok(first.ok && again.ok && first.key === again.key);
  });

  test(`at most ${MAX_SIGNATURES} signatures are checked, the topmost; the others are one "policy" result, with no lookup`, async () => {
    // Each with an l= of its own: checked, each would be a key lookup and a pass over the body.
    const message = await signed();
    const sig = message.slice(0, message.length - MESSAGE.length);
    const extra = Array.from({ length: MAX_SIGNATURES + 5 }, (_, i) => sig.replace('v=1;', `v=1; l=${i};`).replace('s=s;', `s=s${i};`)).join('');
    const { resolve, asked } = resolverFor({ 's._domainkey.example.org': [[ED_RECORD]] });
    const check = new DkimCheck(resolve, new DkimKeyCache());
    await check.write(Buffer.from(extra + message));
    const rows = (await check.finish()).results.map((r) => `${r.status.result}${r.status.comment ? ` (${r.status.comment})` : ''}`);
    assert.equal(rows.length, MAX_SIGNATURES + 1);
    assert.equal(rows.at(-1), `policy (6 more signatures not checked: at most ${MAX_SIGNATURES} are)`);
    assert.ok(asked.length <= MAX_SIGNATURES, asked.join(', '));
    assert.ok(asked.every((q) => !q.startsWith(`s${MAX_SIGNATURES}.`)), 'no lookup for an unchecked signature');
  });

  test('a 100 MiB signed message is verified in a few MiB of memory', async () => {
    const header = 'From: a@example.org\nSubject: big\n\n';
    const line = Buffer.from(`${'x'.repeat(60)} \t y\n`.repeat(16 * 1024));
    const run = signer.start();
    run.write(Buffer.from(header));
    for (let i = 0; i < 100; i++) run.write(line);
    const fields = (await run.finish()).fields;
    const check = new DkimCheck(resolverFor({ 's._domainkey.example.org': [[ED_RECORD]] }).resolve);
    await check.write(Buffer.from(fields + header));
    const before = process.memoryUsage().arrayBuffers;
    let peak = 0;
    for (let i = 0; i < 100; i++) {
      await check.write(line);
      peak = Math.max(peak, process.memoryUsage().arrayBuffers - before);
    }
    assert.deepEqual((await check.finish()).results.map((r) => r.status.result), ['pass']);
    assert.ok(peak < 8 * 1024 * 1024, `${peak} bytes`);
  });
});
