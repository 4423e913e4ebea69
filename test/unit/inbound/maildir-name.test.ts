// Maildir file names: the documented format, a counter per instance, unique names, escaped host.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MaildirNamer, maildirHost } from '../../../src/inbound/maildir-name.js';

test('the format is <seconds>.M<usec>P<pid>Q<counter>.<host>', () => {
  const namer = new MaildirNamer({ hostname: 'mx1', pid: 4242, now: () => new Date(1764000000123) });
  assert.equal(namer.next(), '1764000000.M123000P4242Q1.mx1');
  assert.equal(namer.next(), '1764000000.M123000P4242Q2.mx1');
});

test('1000 names are unique even with a frozen clock', () => {
  const namer = new MaildirNamer({ hostname: 'mx1', pid: 1, now: () => new Date(0) });
  const names = new Set(Array.from({ length: 1000 }, () => namer.next()));
  assert.equal(names.size, 1000);
  for (const n of names) assert.match(n, /^0\.M0P1Q\d+\.mx1$/);
});

test('the counter belongs to the instance and is shared by all its callers', () => {
  const shared = new MaildirNamer({ hostname: 'h', pid: 7, now: () => new Date(5000) });
  const sessionA = () => shared.next();
  const sessionB = () => shared.next();
  assert.deepEqual([sessionA(), sessionB(), sessionA()].map((n) => n.match(/Q(\d+)\./)?.[1]), ['1', '2', '3']);
  const other = new MaildirNamer({ hostname: 'h', pid: 7, now: () => new Date(5000) });
  assert.equal(other.next(), '5.M0P7Q1.h');
});

test('"/" and ":" in the host name are escaped', () => {
  assert.equal(maildirHost('a/b:c'), 'a\\057b\\072c');
  assert.equal(maildirHost('mx.example.org'), 'mx.example.org');
  const namer = new MaildirNamer({ hostname: 'x:/y', pid: 1, now: () => new Date(1000) });
  assert.equal(namer.next(), '1.M0P1Q1.x\\072\\057y');
});
