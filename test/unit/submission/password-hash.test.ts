// scrypt hashes: the string form, the round trip, and refusals of strings we did not write.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BadHashError, DEFAULT_PARAMS, hashPassword, parseHash, unmatchableHash, verifyPassword } from '../../../src/submission/password-hash.js';

/** Cheap parameters: these tests are about the format, not the cost. */
const FAST = { ln: 4, r: 8, p: 1 };

test('a hash holds its parameters and a fresh salt, never the password', async () => {
  const a = await hashPassword('correct horse', FAST);
  const b = await hashPassword('correct horse', FAST);
  assert.match(a, /^\$scrypt\$ln=4,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
  assert.notEqual(a, b, 'per-hash salt');
  assert.doesNotMatch(a, /correct|horse/);
});

test('the right password matches, another does not; the text is NFKC-normalised first', async () => {
  const h = parseHash(await hashPassword('caf\u00e9 \u2163', FAST));
  assert.equal(await verifyPassword('caf\u00e9 \u2163', h), true);
  assert.equal(await verifyPassword('cafe\u0301 IV', h), true, 'composed differently, same password');
  assert.equal(await verifyPassword('cafe IV', h), false);
  assert.equal(await verifyPassword('', h), false);
});

test('the default cost is the one written by default', async () => {
  assert.deepEqual(DEFAULT_PARAMS, { ln: 15, r: 8, p: 1 });
  assert.match(await hashPassword('x'), /^\$scrypt\$ln=15,r=8,p=1\$/);
});

test('strings that are not our hashes, or ask too much, are refused', () => {
  for (const bad of [
    'plain',
    '{PLAIN}secret',
    '$2y$10$abcdefghijklmnopqrstuu',
    '$scrypt$ln=15,r=8$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    '$scrypt$ln=15,r=8,p=1$short$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    '$scrypt$ln=30,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    '$scrypt$ln=20,r=32,p=16$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    '$scrypt$ln=0,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
  ]) {
    assert.throws(() => parseHash(bad), BadHashError, bad);
  }
});

test('the decoy hash of unknown logins matches nothing, at the cost asked for', async () => {
  const decoy = unmatchableHash(FAST);
  assert.deepEqual(decoy.params, FAST);
  assert.equal(await verifyPassword('', decoy), false);
  assert.equal(await verifyPassword('anything', decoy), false);
});
