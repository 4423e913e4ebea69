// The password check: unknown logins cost a scrypt at the file's usual cost; successes are remembered, failures never.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PasswordChecker } from '../../../src/submission/password-checker.js';
import { hashPassword, parseHash, verifyPassword, type PasswordHash } from '../../../src/submission/password-hash.js';
import type { Passwords } from '../../../src/submission/passwords-file.js';

const FAST = { ln: 4, r: 8, p: 1 };

async function passwords(entries: Record<string, string>, params = FAST): Promise<Passwords> {
  const map = new Map();
  for (const [address, pw] of Object.entries(entries)) map.set(address, { address, hash: parseHash(await hashPassword(pw, params)) });
  return map;
}

function counting(passwordsMap: Passwords, now = () => 0) {
  const seen: PasswordHash[] = [];
  const checker = new PasswordChecker({
    passwords: passwordsMap,
    now,
    verify: (pw, hash) => {
      seen.push(hash);
      return verifyPassword(pw, hash);
    },
  });
  return { checker, seen };
}

test('an unknown login goes through scrypt with the parameters the file uses, and fails', async () => {
  const { checker, seen } = counting(await passwords({ 'alice@x.example': 'pw', 'bob@x.example': 'pw2' }, { ln: 5, r: 4, p: 1 }));
  assert.equal(await checker.check('nobody@x.example', 'pw'), false);
  assert.equal(seen.length, 1);
  assert.deepEqual(seen[0]!.params, { ln: 5, r: 4, p: 1 }, 'same timing class as a known login');
  assert.equal(await checker.check('alice@x.example', 'wrong'), false);
  assert.deepEqual(seen[1]!.params, { ln: 5, r: 4, p: 1 });
});

test('a success is remembered; a wrong password still costs a scrypt; a new hash voids the memory', async () => {
  let now = 0;
  const first = await passwords({ 'alice@x.example': 'pw' });
  const { checker, seen } = counting(first, () => now);
  assert.equal(await checker.check('alice@x.example', 'pw'), true);
  assert.equal(seen.length, 1);
  assert.equal(await checker.check('alice@x.example', 'pw'), true);
  assert.equal(seen.length, 1, 'remembered: no second scrypt');
  assert.equal(await checker.check('alice@x.example', 'pW'), false);
  assert.equal(seen.length, 2, 'a different password is checked for real');
  checker.setPasswords(await passwords({ 'alice@x.example': 'new' }));
  assert.equal(await checker.check('alice@x.example', 'pw'), false, 'the old password no longer works after a change');
  assert.equal(await checker.check('alice@x.example', 'new'), true);
  const count = seen.length;
  now += 3_600_001;
  assert.equal(await checker.check('alice@x.example', 'new'), true);
  assert.equal(seen.length, count + 1, 'forgotten after an hour');
});
