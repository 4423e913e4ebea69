// Maildirs written by facteur and served by a real Dovecot: the group that may read them (inbound.maildir_group), and
// quotas counted in Maildir++'s maildirsize that Dovecot's own quota agrees with (doveadm quota get).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFile, chmod, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseMaildirsize } from '../../src/inbound/maildirsize.js';
import { dovecotMissing, startDovecot, type Dovecot } from '../helpers/dovecot.js';
import { startFacteur, type Facteur } from '../helpers/facteur.js';
import { listMail } from '../helpers/maildir.js';

/** As root, Debian's "mail" group (Dovecot's mail processes get it as a supplementary group); else our own group. */
function readerGroup(): number | null {
  if (process.getuid?.() !== 0) return process.getgid?.() ?? null;
  const r = spawnSync('getent', ['group', 'mail'], { encoding: 'utf8' });
  const gid = r.status === 0 ? r.stdout.split(':')[2] : undefined;
  return gid === undefined ? null : Number(gid);
}

const gid = readerGroup();
const skip = dovecotMissing() ?? (gid === null ? 'no "mail" group to share the Maildirs with' : false);
const QUOTA = 10 * 1024; // alice's, in bytes: "10KB" for facteur, "10K" for Dovecot

const USERS = { alice: ['alice@example.org'], bob: ['bob@example.org'], postmaster: ['postmaster@example.org'] };

/** facteur with the Maildir group, then a Dovecot that serves its Maildirs with that group. */
async function startBoth(toml: string, control: 'separate' | 'maildir'): Promise<{ facteur: Facteur; dovecot: Dovecot }> {
  const facteur = await startFacteur({ users: USERS, toml: `[inbound]\nmaildir_group = ${gid}\n${toml}` });
  // The test's own folder above data_dir (mkdtemp: 0700) is ours to open; facteur opens data_dir (store-setup.ts).
  await chmod(join(facteur.dataDir, '..'), 0o711);
  const dovecot = await startDovecot({ users: [{ name: 'alice', quota: '10K' }, { name: 'bob' }], maildirRoot: facteur.maildirRoot, accessGroup: gid as number, control });
  return { facteur, dovecot };
}

describe('Maildirs written by facteur, read by Dovecot through maildir_group', { skip }, () => {
  let dovecot: Dovecot;
  let facteur: Facteur;
  before(async () => {
    ({ facteur, dovecot } = await startBoth('', 'separate'));
  });
  after(async () => {
    await facteur?.stop();
    await dovecot?.stop();
  });

  test('files 0640 and folders 2750 of the group; Dovecot reads them over IMAP', async () => {
    await send(facteur, 'bob@example.org', 'for bob', 100);
    const [name] = await listMail(facteur.maildirRoot, 'bob');
    assert.ok(name !== undefined);
    const file = await stat(join(facteur.maildirRoot, 'bob', 'new', name));
    assert.equal(file.mode & 0o777, 0o640);
    assert.equal(file.gid, gid);
    for (const dir of ['', 'new', 'cur', 'tmp']) {
      const s = await stat(join(facteur.maildirRoot, 'bob', dir));
      assert.equal(s.mode & 0o7777, 0o2750, `bob/${dir}`);
      assert.equal(s.gid, gid, `bob/${dir}`);
    }
    assert.deepEqual(await dovecot.subjects('bob'), ['for bob']);
  });
});

describe('Quotas in maildirsize, shared with Dovecot (maildir_group_write)', { skip }, () => {
  let dovecot: Dovecot;
  let facteur: Facteur;
  before(async () => {
    ({ facteur, dovecot } = await startBoth('maildir_group_write = true\n[inbound.quotas]\nalice = "10KB"\n', 'maildir'));
  });
  after(async () => {
    await facteur?.stop();
    await dovecot?.stop();
  });

  test('quota: maildirsize counts each delivery, and Dovecot reads the same usage', async () => {
    await send(facteur, 'alice@example.org', 'first', 3000);
    await send(facteur, 'alice@example.org', 'second', 3000);
    const parsed = parseMaildirsize(await readFile(join(facteur.maildirRoot, 'alice', 'maildirsize'), 'utf8'));
    assert.ok(parsed !== null);
    assert.deepEqual(parsed.definition, { bytes: QUOTA, count: 0 });
    assert.equal(parsed.usage.count, 2);
    const files = await listMail(facteur.maildirRoot, 'alice');
    let bytes = 0;
    for (const f of files) bytes += (await stat(join(facteur.maildirRoot, 'alice', 'new', f))).size;
    assert.equal(parsed.usage.bytes, bytes);
    const q = await dovecot.quota('alice');
    assert.equal(q.messages, 2);
    assert.equal(q.storageKiB, Math.ceil(bytes / 1024)); // doveadm shows KiB, rounded up
    assert.equal(q.limitKiB, QUOTA / 1024);
    // It is our file Dovecot reads, not a count of its own: a line added by hand shows in its figure.
    await appendFile(join(facteur.maildirRoot, 'alice', 'maildirsize'), '2048 0\n');
    assert.equal((await dovecot.quota('alice')).storageKiB, Math.ceil((bytes + 2048) / 1024));
    await appendFile(join(facteur.maildirRoot, 'alice', 'maildirsize'), '-2048 0\n');
    assert.deepEqual(await dovecot.subjects('alice'), ['first', 'second']);
  });

  test('quota: 552 5.2.2 at RCPT when the declared SIZE does not fit, then at the end of DATA without SIZE', async () => {
    const d = await dialog(facteur);
    await d.command('MAIL FROM:<s@client.example> SIZE=8000');
    await d.expect(250);
    await d.command('RCPT TO:<alice@example.org>');
    await d.expect(552, '5.2.2');
    await d.command('RCPT TO:<bob@example.org>');
    await d.expect(250);
    await d.command('RSET');
    await d.expect(250);
    await d.command('MAIL FROM:<s@client.example>');
    await d.expect(250);
    await d.command('RCPT TO:<alice@example.org>');
    await d.expect(250);
    await d.command('DATA');
    await d.expect(354);
    await d.send(`Subject: too big\r\n\r\n${'y'.repeat(76)}\r\n`.repeat(1) + `${'z'.repeat(76)}\r\n`.repeat(100) + '.\r\n');
    await d.expect(552, '5.2.2');
    // Still the two messages (Dovecot's SELECT moved them to cur/), nothing left in tmp/.
    assert.equal((await listMail(facteur.maildirRoot, 'alice')).length + (await listMail(facteur.maildirRoot, 'alice', 'cur')).length, 2);
    assert.deepEqual(await listMail(facteur.maildirRoot, 'alice', 'tmp'), []);
    assert.deepEqual(await dovecot.subjects('alice'), ['first', 'second']);
  });
});

async function dialog(f: Facteur) {
  const d = await f.connect('plain');
  await d.expect(220);
  await d.command('EHLO client.example');
  await d.expect(250);
  return d;
}

async function send(f: Facteur, to: string, subject: string, bodyBytes: number): Promise<void> {
  const d = await dialog(f);
  await d.command('MAIL FROM:<s@client.example>');
  await d.expect(250);
  await d.command(`RCPT TO:<${to}>`);
  await d.expect(250);
  await d.command('DATA');
  await d.expect(354);
  await d.send(`Subject: ${subject}\r\n\r\n${'x'.repeat(bodyBytes)}\r\n.\r\n`);
  await d.expect(250, '2.0.0');
  await d.command('QUIT');
  await d.expect(221);
}
