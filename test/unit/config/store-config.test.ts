// The local store's keys: inbound.delivery, lmtp, lmtp_recipient, quota, [inbound.quotas], maildir_group.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ConfigError } from '../../../src/config/config-error.js';
import { loadConfig } from '../../../src/config/load-config.js';

let dir: string;
let count = 0;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'facteur-store-config-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const HEAD = '[inbound]\ndomains = ["example.org"]\n';
const USERS = '[inbound.users]\nalice = ["alice@example.org"]\nbob = ["bob@example.org"]\n';

async function load(toml: string) {
  const file = join(dir, `c${++count}.toml`);
  await writeFile(file, toml);
  return loadConfig(file, { machineName: 'mx.test' });
}

async function problems(toml: string): Promise<string[]> {
  try {
    await load(toml);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems.map((p) => `${p.key}: ${p.problem}`);
  }
  assert.fail('expected a ConfigError');
}

test('LMTP endpoints: a Unix socket or IP:port', async () => {
  const unix = await load(`${HEAD}delivery = "lmtp"\nlmtp = "unix:/run/dovecot/lmtp"\n`);
  assert.deepEqual(unix.inbound.store.lmtp, { kind: 'unix', path: '/run/dovecot/lmtp', text: 'unix:/run/dovecot/lmtp' });
  assert.equal(unix.inbound.store.delivery, 'lmtp');
  const tcp = await load(`${HEAD}delivery = "lmtp"\nlmtp = "[::1]:24"\nlmtp_recipient = "address"\nlmtp_timeout = "30s"\n`);
  assert.deepEqual(tcp.inbound.store.lmtp, { kind: 'tcp', host: '::1', port: 24, text: '[::1]:24' });
  assert.equal(tcp.inbound.store.lmtpRecipient, 'address');
  assert.equal(tcp.inbound.store.lmtpTimeout, 30_000);
});

test('bad store settings are named', async () => {
  const cases: [string, RegExp][] = [
    [`${HEAD}delivery = "lmtp"\n`, /inbound\.lmtp: delivery = "lmtp" needs inbound\.lmtp/],
    [`${HEAD}delivery = "mbox"\n`, /inbound\.delivery: expected one of "maildir", "lmtp"/],
    [`${HEAD}lmtp = "/run/dovecot/lmtp"\n`, /inbound\.lmtp: .*write a Unix socket as "unix:\/run\/dovecot\/lmtp"/],
    [`${HEAD}lmtp = "unix:lmtp"\n`, /inbound\.lmtp: .*absolute socket path/],
    [`${HEAD}lmtp = "dovecot:24"\n`, /inbound\.lmtp: .*not an IPv4 address/],
    [`${HEAD}quota = "lots"\n`, /inbound\.quota: "lots" is not a size/],
    [`${HEAD}${USERS}[inbound.quotas]\ncarol = "1MB"\n`, /inbound\.quotas\.carol: "carol" is not a mailbox/],
    [`${HEAD}${USERS}[inbound.quotas]\nalice = "1 MiB"\n`, /inbound\.quotas\.alice: .*not a size/],
    [`${HEAD}maildir_group = "mail group"\n`, /inbound\.maildir_group: "mail group" is not a group name/],
  ];
  for (const [toml, expected] of cases) {
    const lines = await problems(toml);
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(lines[0] as string, expected);
  }
});

test('quotas: a default, per mailbox, sizes with units; the group by name or number', async () => {
  const c = await load(`${HEAD}quota = "1GB"\nmaildir_group = "dovecot"\n${USERS}[inbound.quotas]\nalice = "512KB"\nbob = 0\n`);
  assert.equal(c.inbound.store.quota, 1024 ** 3);
  assert.deepEqual(c.inbound.store.quotas, { alice: 512 * 1024, bob: 0 });
  assert.equal(c.inbound.store.maildirGroup, 'dovecot');
  assert.equal((await load(`${HEAD}maildir_group = 8\n`)).inbound.store.maildirGroup, '8');
});
