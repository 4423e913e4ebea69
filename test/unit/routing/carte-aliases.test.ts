// The carte file's alias lines, the aliases' rules, and where check-config says each problem is.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseCarte, parseUsersFile } from '../../../src/inbound/users-file.js';
import { checkAliases } from '../../../src/mail/alias-rules.js';
import { AliasTable } from '../../../src/routing/alias-table.js';
import { inboundConfig } from '../../helpers/inbound-fixtures.js';
import { tempDir } from '../../helpers/temp-dir.js';

test('parseCarte: a left side with "@" is an alias, a bare name a mailbox', () => {
  const text = ['alice : alice@example.org', 'info@example.org : alice@example.org, bob@elsewhere.test  # forward', '@example.org: alice@example.org', ''].join('\n');
  assert.deepEqual(parseCarte(text, 'users'), {
    users: [{ where: 'users:1', mailbox: 'alice', addresses: ['alice@example.org'] }],
    aliases: [
      { where: 'users:2', alias: 'info@example.org', targets: ['alice@example.org', 'bob@elsewhere.test'] },
      { where: 'users:3', alias: '@example.org', targets: ['alice@example.org'] },
    ],
  });
  assert.deepEqual(parseUsersFile(text, 'users'), [{ where: 'users:1', mailbox: 'alice', addresses: ['alice@example.org'] }]);
});

test('checkAliases: each problem with its place', () => {
  const cases: [string, string[], RegExp][] = [
    ['info', ['alice@example.org'], /"info" is not an address/],
    ['info@example.net', ['alice@example.org'], /example\.net is not a local domain/],
    ['@exa mple.org', ['alice@example.org'], /is not an address .* or a catch-all/],
    ['info@example.org', [], /no target/],
    ['info@example.org', ['@example.org'], /is a catch-all: a target must be an address/],
    ['info@example.org', ['bob'], /target "bob" is not an address/],
    ['info@example.org', ['b ob@example.org'], /target "b ob@example\.org" has an invalid local part/],
    ['info@example.org', ['bob@exa_mple.org'], /invalid domain/],
  ];
  for (const [alias, targets, message] of cases) {
    const problems = checkAliases([{ where: 'W', alias, targets }], ['example.org']);
    assert.equal(problems.length, 1, `${alias} ${JSON.stringify(problems)}`);
    assert.match(problems[0]!.message, message);
  }
  const twice = checkAliases(
    [
      { where: 'A', alias: 'info@example.org', targets: ['a@example.org'] },
      { where: 'B', alias: 'INFO@example.org', targets: ['b@example.org'] },
    ],
    ['example.org'],
  );
  assert.deepEqual(twice.map((p) => [p.where, p.message]), [['B', 'alias INFO@example.org is already defined (A)']]);
});

test('AliasTable.load: the config table and the file together, problems with FILE:LINE', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'users');
  await writeFile(file, 'alice : alice@example.org\nsales@example.org : info@example.org\n');
  const cfg = inboundConfig(join(dir, 'mail'), { usersFile: file, aliases: { 'info@example.org': ['alice@example.org'] } });
  const table = await AliasTable.load(cfg);
  assert.deepEqual(table.get('sales@example.org'), ['info@example.org']);
  assert.deepEqual(table.get('info@example.org'), ['alice@example.org']);
  await writeFile(file, 'alice : alice@example.org\ninfo@example.org : bob@example.org\n');
  await assert.rejects(AliasTable.load(cfg), new RegExp(`^Error: ${file}:2: alias info@example.org is already defined`));
});
