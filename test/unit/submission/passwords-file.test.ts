// The passwords file: parsing with FILE:LINE problems, replacing one line, the 0600 atomic write.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { hashPassword } from '../../../src/submission/password-hash.js';
import { loadPasswords, parsePasswords, PasswordsFileError, storePassword, withPassword } from '../../../src/submission/passwords-file.js';

const H = '$scrypt$ln=4,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
const H2 = H.replace(/A$/, 'B');

test('lines, comments and blank lines; logins looked up without case', () => {
  const p = parsePasswords(`# logins\n\nAlice@Example.org:${H}\r\n  bob@example.org : ${H2}  \n`, 'pw');
  assert.deepEqual([...p.keys()], ['alice@example.org', 'bob@example.org']);
  assert.equal(p.get('alice@example.org')?.address, 'Alice@Example.org');
  assert.equal(p.get('bob@example.org')?.hash.text, H2);
});

test('bad lines are named by FILE:LINE', () => {
  const cases: [string, RegExp][] = [
    [`alice@example.org ${H}`, /^pw:1: expected "address:hash"/],
    [`\nalice:${H}`, /^pw:2: expected "address:hash"/],
    ['alice@example.org:secret', /^pw:1: alice@example\.org: not a scrypt hash/],
    [`alice@example.org:${H}\nALICE@example.org:${H2}`, /^pw:2: ALICE@example\.org has a password on an earlier line already/],
  ];
  for (const [text, want] of cases) assert.throws(() => parsePasswords(text, 'pw'), (err: Error) => err instanceof PasswordsFileError && want.test(err.message), text);
});

test('withPassword replaces the line of the login (any case) in place, or appends one', () => {
  const text = `# comment\nalice@example.org:${H}\nbob@example.org:${H}\n`;
  assert.equal(withPassword(text, 'Alice@example.org', H2), `# comment\nAlice@example.org:${H2}\nbob@example.org:${H}\n`);
  assert.equal(withPassword(text, 'carol@example.org', H2), `${text}carol@example.org:${H2}\n`);
  assert.equal(withPassword('', 'carol@example.org', H2), `carol@example.org:${H2}\n`);
  assert.equal(withPassword('# alice@example.org:old\n', 'alice@example.org', H2), `# alice@example.org:old\nalice@example.org:${H2}\n`);
});

test('storePassword writes mode 0600 atomically; loadPasswords reads it back, warns when others can read it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'facteur-pw-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'passwords');
  assert.deepEqual((await loadPasswords(file)).passwords.size, 0, 'a missing file is empty');
  await storePassword(file, 'alice@example.org', await hashPassword('s3cret', { ln: 4, r: 8, p: 1 }));
  await storePassword(file, 'bob@example.org', H);
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  const loaded = await loadPasswords(file);
  assert.equal(loaded.warning, null);
  assert.deepEqual([...loaded.passwords.keys()], ['alice@example.org', 'bob@example.org']);
  assert.doesNotMatch(await readFile(file, 'utf8'), /s3cret/);
  await chmod(file, 0o644);
  assert.match((await loadPasswords(file)).warning ?? '', /can be read by other users \(mode 644\)/);
  // A damaged file is not rewritten (the other logins would be lost).
  await writeFile(file, 'garbage\n');
  await assert.rejects(storePassword(file, 'alice@example.org', H), PasswordsFileError);
  assert.equal(await readFile(file, 'utf8'), 'garbage\n');
});
