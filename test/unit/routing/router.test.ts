// The router's rules, one row each: exact address > subaddress base > catch-all, aliases with loops and limits, SRS.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Mailboxes } from '../../../src/inbound/mailboxes.js';
import type { Address } from '../../../src/mail/address.js';
import type { AliasEntry } from '../../../src/mail/alias-rules.js';
import { AliasTable } from '../../../src/routing/alias-table.js';
import { Router, type RouterSettings } from '../../../src/routing/router.js';
import { SmtpError } from '../../../src/smtp/smtp-error.js';
import { Srs } from '../../../src/srs/srs.js';

const DOMAINS = ['example.org', 'example.net'];
const USERS = {
  alice: ['alice@example.org'],
  bob: ['bob@example.org'],
  postmaster: ['postmaster@example.org'],
  // example.net: a catch-all, and one exact address that wins over it.
  carol: ['carol@example.net'],
  everyone: ['@example.net'],
};
const ALIASES: Record<string, string[]> = {
  'info@example.org': ['alice@example.org', 'bob@example.org', 'Alice@example.org'],
  'sales@example.org': ['info@example.org', 'dave@elsewhere.test'],
  'team@example.org': ['alice+work@example.org', 'ghost@example.org'],
  'loop1@example.org': ['loop2@example.org'],
  'loop2@example.org': ['loop3@example.org'],
  'loop3@example.org': ['loop1@example.org'],
  'nowhere@example.org': ['ghost@example.org'],
  'out@example.org': ['Dave@Elsewhere.test', 'dave@elsewhere.test'],
};
/** Folders that exist: alice has .shop and .lists.news. */
const FOLDERS = new Set(['alice/shop', 'alice/lists.news', 'alice/work']);

const srs = new Srs({ secrets: [Buffer.from('k')], domain: 'example.org', maxAge: 21 * 86_400_000, now: () => Date.UTC(2026, 11, 3) });

function router(settings: Partial<Omit<RouterSettings, 'aliases'>> & { aliases?: Record<string, string[]> } = {}): Router {
  const mailboxes = Mailboxes.fromEntries(DOMAINS, USERS);
  const entries: AliasEntry[] = Object.entries(settings.aliases ?? ALIASES).map(([alias, targets]) => ({ where: alias, alias, targets }));
  return new Router(
    { mailbox: (a) => mailboxes.lookup(a), isLocalDomain: (d) => mailboxes.isLocalDomain(d), folderExists: async (m, f) => FOLDERS.has(`${m}/${f}`), srs },
    { aliases: AliasTable.of(entries, DOMAINS), delimiters: settings.delimiters ?? '+', deliverToSubfolder: settings.deliverToSubfolder ?? true },
  );
}

const addr = (text: string): Address => ({ local: text.slice(0, text.lastIndexOf('@')), domain: text.slice(text.lastIndexOf('@') + 1) });

/** "alice" / "alice/.shop" for mailboxes, "fwd:x@y" for forwards; sorted. */
async function where(r: Router, to: string): Promise<string[]> {
  const route = await r.route(addr(to));
  return [...route.mailboxes.map((m) => (m.folder === null ? m.mailbox : `${m.mailbox}/.${m.folder}`)), ...route.forwards.map((f) => `fwd:${f.local}@${f.domain}`)].sort();
}

test('where each address goes', async () => {
  const r = router();
  const cases: [string, string[]][] = [
    ['alice@example.org', ['alice']],
    ['ALICE@Example.ORG', ['alice']],
    ['alice+shop@example.org', ['alice/.shop']],
    ['alice+lists.news@example.org', ['alice/.lists.news']],
    ['alice+nosuch@example.org', ['alice']], // no such folder: the inbox (never made)
    ['alice+Shop@example.org', ['alice']], // folders are case-sensitive
    ['alice+../bob@example.org', ['alice']],
    ['alice+.shop@example.org', ['alice']],
    ['alice+@example.org', ['alice']],
    ['alice+shop+more@example.org', ['alice']], // the detail is "shop+more": no such folder
    ['carol@example.net', ['carol']], // exact wins over the catch-all
    ['anyone@example.net', ['everyone']],
    ['carol+x@example.net', ['carol']], // the subaddress base wins over the catch-all
    ['info@example.org', ['alice', 'bob']], // one copy per mailbox
    ['info+x@example.org', ['alice', 'bob']], // an alias's subaddress
    ['sales@example.org', ['alice', 'bob', 'fwd:dave@elsewhere.test']],
    ['team@example.org', ['alice/.work']], // ghost leads nowhere and is skipped
    ['out@example.org', ['fwd:Dave@Elsewhere.test']], // forwards are distinct without case
    ['Postmaster@', ['postmaster']],
  ];
  for (const [to, expected] of cases) assert.deepEqual(await where(r, to.endsWith('@') ? `${to}` : to), expected, to);
});

test('refusals carry their reply', async () => {
  const r = router();
  const cases: [string, number, string, RegExp][] = [
    ['nobody@example.org', 550, '5.1.1', /No such user/],
    ['alice@elsewhere.test', 550, '5.7.1', /Relaying denied/],
    ['nowhere@example.org', 550, '5.1.1', /No such user/],
    ['loop1@example.org', 550, '5.4.6', /^Alias loop: loop1@example\.org -> loop2@example\.org -> loop3@example\.org -> loop1@example\.org$/],
    ['SRS0=abcd=AA=client.example=sender@example.org', 550, '5.7.1', /Invalid SRS address/],
    ['+shop@example.org', 550, '5.1.1', /No such user/],
  ];
  for (const [to, code, enhanced, text] of cases) {
    await assert.rejects(r.route(addr(to)), (err: unknown) => {
      assert.ok(err instanceof SmtpError, String(err));
      assert.equal(err.reply.code, code, to);
      assert.equal(err.reply.enhanced, enhanced, to);
      assert.match(err.reply.lines.join(' '), text, to);
      return true;
    });
  }
});

test('subaddressing off, several delimiters, subfolders off', async () => {
  await assert.rejects(router({ delimiters: '' }).route(addr('alice+shop@example.org')), /No such user/);
  const dash = router({ delimiters: '+-' });
  assert.deepEqual(await where(dash, 'alice-shop@example.org'), ['alice/.shop']);
  assert.deepEqual(await where(dash, 'alice+shop@example.org'), ['alice/.shop']);
  const off = router({ deliverToSubfolder: false });
  const route = await off.route(addr('alice+shop@example.org'));
  assert.deepEqual(route.mailboxes.map(({ mailbox, folder }) => ({ mailbox, folder })), [{ mailbox: 'alice', folder: null }]);
  assert.equal(route.tree.note, 'deliver_to_subfolder is off');
});

test('depth and size limits', async () => {
  const chain: Record<string, string[]> = {};
  for (let i = 0; i < 12; i++) chain[`a${i}@example.org`] = [`a${i + 1}@example.org`];
  chain['a12@example.org'] = ['alice@example.org'];
  await assert.rejects(router({ aliases: chain }).route(addr('a0@example.org')), (err: SmtpError) => err.reply.enhanced === '5.4.6' && /deeper than 8/.test(err.message));
  assert.deepEqual(await where(router({ aliases: chain }), 'a5@example.org'), ['alice']);
  const many: Record<string, string[]> = {
    'big@example.org': Array.from({ length: 600 }, (_, i) => `x${i}@elsewhere.test`),
    'big2@example.org': Array.from({ length: 600 }, (_, i) => `y${i}@elsewhere.test`),
    'all@example.org': ['big@example.org', 'big2@example.org'],
  };
  await assert.rejects(router({ aliases: many }).route(addr('all@example.org')), (err: SmtpError) => err.reply.code === 550 && err.reply.enhanced === '5.5.3');
});

test('an SRS address of ours goes back to the original sender (local or outside); an alias tree says how', async () => {
  const r = router();
  const out = srs.forward({ local: 'sender', domain: 'client.example' });
  assert.deepEqual(await where(r, `${out.local}@${out.domain}`), ['fwd:sender@client.example']);
  const local = srs.forward({ local: 'bob', domain: 'example.org' });
  assert.deepEqual(await where(r, `${local.local}@${local.domain}`), ['bob']);
  const route = await r.route(addr('sales@example.org'));
  assert.equal(route.tree.rule, 'alias');
  assert.deepEqual(route.tree.children?.map((c) => [c.address, c.rule]), [
    ['info@example.org', 'alias'],
    ['dave@elsewhere.test', 'forward'],
  ]);
});

test('a catch-all alias, and a reload', async () => {
  const r = router({ aliases: { '@example.org': ['bob@example.org'] } });
  assert.deepEqual(await where(r, 'whoever@example.org'), ['bob']);
  assert.deepEqual(await where(r, 'alice@example.org'), ['alice']);
  r.update({ ...r.settings, aliases: AliasTable.empty });
  await assert.rejects(r.route(addr('whoever@example.org')), /No such user/);
});
