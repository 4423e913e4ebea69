// The "carte" users file: parsing, and validation with FILE:LINE locations through Mailboxes.load.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { Mailboxes } from '../../../src/inbound/mailboxes.js';
import { parseUsersFile } from '../../../src/inbound/users-file.js';
import { inboundConfig } from '../../helpers/inbound-fixtures.js';
import { tempDir } from '../../helpers/temp-dir.js';

test('a good file: comments, blank lines, spaces, CRLF', () => {
  const text = [
    '# the users of example.org',
    '',
    'rex : Xavier.Redon@example.org,xavier@example.org, rex@example.org',
    '  tv:tv@example.org   # trailing comment',
    '\t',
    'postmaster : postmaster@example.org\r',
  ].join('\n');
  assert.deepEqual(parseUsersFile(text, 'users'), [
    { where: 'users:3', mailbox: 'rex', addresses: ['Xavier.Redon@example.org', 'xavier@example.org', 'rex@example.org'] },
    { where: 'users:4', mailbox: 'tv', addresses: ['tv@example.org'] },
    { where: 'users:6', mailbox: 'postmaster', addresses: ['postmaster@example.org'] },
  ]);
});

test('an empty file or a file of comments has no entries', () => {
  assert.deepEqual(parseUsersFile('', 'f'), []);
  assert.deepEqual(parseUsersFile('# nothing\n\n   # here\n', 'f'), []);
});

test('syntax errors name FILE:LINE', () => {
  const cases: [string, RegExp][] = [
    ['ok : a@example.org\nno colon here\n', /^Error: users:2: expected "mailbox : address, address"/],
    [' : a@example.org', /^Error: users:1: missing mailbox name/],
    ['\n\nbob :   # nothing', /^Error: users:3: no address after "bob :"/],
    ['bob : a@example.org,', /^Error: users:1: empty address/],
    ['bob : a@example.org,,b@example.org', /^Error: users:1: empty address/],
  ];
  for (const [text, message] of cases) assert.throws(() => parseUsersFile(text, 'users'), message, text);
});

async function loadWithFile(t: Parameters<typeof tempDir>[0], text: string, users: Record<string, string[]> = {}) {
  const dir = await tempDir(t);
  const file = join(dir, 'users');
  await writeFile(file, text);
  return { file, load: () => Mailboxes.load(inboundConfig(dir, { usersFile: file, users })) };
}

test('load merges the inline table and the file', async (t) => {
  const { load } = await loadWithFile(t, 'bob : bob@example.org, Robert@Example.ORG\n', { alice: ['alice@example.org'] });
  const m = await load();
  assert.deepEqual(m.names(), ['alice', 'bob']);
  assert.equal(m.lookup({ local: 'robert', domain: 'example.org' }), 'bob');
  assert.equal(m.lookup({ local: 'ALICE', domain: 'example.org' }), 'alice');
});

test('validation errors in the file name FILE:LINE', async (t) => {
  const cases: [string, string][] = [
    ['# c\n../etc : a@example.org\n', ':2: invalid mailbox name "../etc"'],
    ['.. : a@example.org\n', ':1: invalid mailbox name ".."'],
    ['. : a@example.org\n', ':1: invalid mailbox name "."'],
    ['a/b : a@example.org\n', ':1: invalid mailbox name "a/b"'],
    ['john doe : a@example.org\n', ':1: invalid mailbox name "john doe"'],
    ['bob : bob\n', ':1: "bob" is not an address'],
    ['bob : @exa_mple.org\n', ':1: "@exa_mple.org" is not a catch-all'],
    ['bob : @example.net\n', ':1: "@example.net": example.net is not a local domain'],
    ['bob : bob@\n', ':1: "bob@" is not an address'],
    ['bob : b ob@example.org\n', ':1: "b ob@example.org" has an invalid local part'],
    ['bob : .bob@example.org\n', ':1: ".bob@example.org" has an invalid local part'],
    [`bob : ${'x'.repeat(65)}@example.org\n`, 'has an invalid local part'],
    ['bob : bob@example.net\n', ':1: "bob@example.net": example.net is not a local domain'],
    ['bob : bob@example.org.\n', 'example.org. is not a local domain'],
    ['bob : bob@[127.0.0.1]\n', 'is not a local domain'],
    ['bob : bob@example.org\n\nrob : BOB@example.org\n', ':3: address BOB@example.org is already delivered to mailbox "bob"'],
    ['bob : bob@example.org, bob@example.org\n', ':1: address bob@example.org is already delivered to mailbox "bob"'],
    // The rules of src/mail/local-users.ts, as the config's [inbound.users] has them.
    ['bob : bob@example.org\nBob : rob@example.org\n', ':2: mailbox "Bob" differs from "bob" only by case'],
    [`${'m'.repeat(256)} : a@example.org\n`, `:1: invalid mailbox name "${'m'.repeat(256)}"`],
    ['bob : b\u00a0ob@example.org\n', ':1: "b\u00a0ob@example.org" has an invalid local part'],
  ];
  for (const [text, fragment] of cases) {
    const { file, load } = await loadWithFile(t, text);
    await assert.rejects(load(), (err: Error) => {
      assert.ok(err.message.startsWith(file), err.message);
      assert.ok(err.message.includes(fragment), `${err.message} should include ${fragment}`);
      return true;
    });
  }
});

test('an address both inline and in the file is an error', async (t) => {
  const { file, load } = await loadWithFile(t, 'bob : alice@example.org\n', { alice: ['alice@example.org'] });
  await assert.rejects(load(), new Error(`${file}:1: address alice@example.org is already delivered to mailbox "alice" (inbound.users.alice)`));
});

test('a missing or non-UTF-8 file is a clear error', async (t) => {
  const dir = await tempDir(t);
  const missing = join(dir, 'nope');
  await assert.rejects(Mailboxes.load(inboundConfig(dir, { usersFile: missing })), new Error(`${missing}: cannot read the users file (ENOENT)`));
  const latin1 = join(dir, 'latin1');
  await writeFile(latin1, Buffer.from([0x62, 0x6f, 0x62, 0x20, 0x3a, 0x20, 0xe9, 0x40, 0x65]));
  await assert.rejects(Mailboxes.load(inboundConfig(dir, { usersFile: latin1 })), /latin1: the users file is not valid UTF-8/);
});
