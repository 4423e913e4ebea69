// Mailboxes: lookups are case-insensitive, the bare <postmaster> works, only local domains are local.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Mailboxes } from '../../../src/inbound/mailboxes.js';
import { isMailboxName } from '../../../src/mail/local-users.js';

const m = Mailboxes.fromEntries(['example.org', 'example.net'], {
  alice: ['alice@example.org', 'a.smith@example.org', 'alice@example.net'],
  postmaster: ['postmaster@example.org'],
  empty: [],
  intl: ['jérôme@example.org'],
});

test('lookup ignores case on both sides', () => {
  assert.equal(m.lookup({ local: 'alice', domain: 'example.org' }), 'alice');
  assert.equal(m.lookup({ local: 'A.Smith', domain: 'EXAMPLE.org' }), 'alice');
  assert.equal(m.lookup({ local: 'ALICE', domain: 'Example.Net' }), 'alice');
  assert.equal(m.lookup({ local: 'JÉRÔME', domain: 'example.org' }), 'intl');
  assert.equal(m.lookup({ local: 'bob', domain: 'example.org' }), null);
  assert.equal(m.lookup({ local: 'alice', domain: 'example.com' }), null);
  assert.equal(m.lookup({ local: 'alice', domain: 'example.org.' }), null);
});

test('the bare <postmaster> is the first domain\'s postmaster', () => {
  assert.equal(m.lookup({ local: 'postmaster', domain: '' }), 'postmaster');
  assert.equal(m.lookup({ local: 'PostMaster', domain: '' }), 'postmaster');
  assert.equal(m.lookup({ local: 'alice', domain: '' }), null);
  assert.equal(m.hasPostmaster('example.org'), true);
  assert.equal(m.hasPostmaster('EXAMPLE.ORG'), true);
  assert.equal(m.hasPostmaster('example.net'), false);
  const none = Mailboxes.fromEntries([], {});
  assert.equal(none.lookup({ local: 'postmaster', domain: '' }), null);
});

test('isLocalDomain: case-insensitive, no trailing dot, no literal, no empty', () => {
  assert.equal(m.isLocalDomain('example.org'), true);
  assert.equal(m.isLocalDomain('EXAMPLE.NET'), true);
  assert.equal(m.isLocalDomain('example.org.'), false);
  assert.equal(m.isLocalDomain('[127.0.0.1]'), false);
  assert.equal(m.isLocalDomain(''), false);
  assert.equal(m.isLocalDomain('sub.example.org'), false);
});

test('names lists every mailbox, even one without addresses', () => {
  assert.deepEqual(m.names(), ['alice', 'postmaster', 'empty', 'intl']);
});

test('fromEntries validates like load', () => {
  assert.throws(() => Mailboxes.fromEntries(['example.org'], { '..': ['x@example.org'] }), /^Error: inbound\.users\.\.\.: invalid mailbox name/);
  assert.throws(() => Mailboxes.fromEntries(['example.org'], { a: ['x@example.com'] }), /inbound\.users\.a: "x@example\.com": example\.com is not a local domain/);
  assert.throws(() => Mailboxes.fromEntries(['example.org'], { a: ['x@example.org'], b: ['X@Example.org'] }), /already delivered to mailbox "a"/);
});

test('mailbox names: a safe alphabet, never . or ..', () => {
  for (const ok of ['alice', 'a.b', 'a_b-c', 'A1', '...', '.hidden']) assert.equal(isMailboxName(ok), true, ok);
  for (const bad of ['', '.', '..', 'a/b', '../x', 'a b', 'a\0b', 'é', 'a\\b', 'a:b']) assert.equal(isMailboxName(bad), false, bad);
});
