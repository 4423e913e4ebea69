// PLAIN and LOGIN as exchanges of steps.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SaslStep } from '../../../src/smtp/server/auth-service.js';
import { LoginExchange, PlainExchange } from '../../../src/submission/sasl-mechanisms.js';

const calls: string[][] = [];
const verify = async (authzid: string, authcid: string, password: string): Promise<SaslStep> => {
  calls.push([authzid, authcid, password]);
  return { kind: 'success', identity: { login: authcid, mailbox: 'm', receivedAs: null } };
};
const b = (s: string) => Buffer.from(s, 'utf8');
const kind = (s: SaslStep) => (s.kind === 'challenge' ? `challenge:${s.data.toString()}` : s.kind === 'failure' ? `failure:${s.reply.code} ${s.reply.enhanced}` : 'success');

test('PLAIN with an initial response', async () => {
  calls.length = 0;
  assert.equal(kind(await new PlainExchange(verify).next(b('\0alice@x\0pässword'))), 'success');
  assert.deepEqual(calls, [['', 'alice@x', 'pässword']]);
});

test('PLAIN without one: an empty challenge first', async () => {
  calls.length = 0;
  const e = new PlainExchange(verify);
  assert.equal(kind(await e.next(null)), 'challenge:');
  assert.equal(kind(await e.next(b('alice@x\0alice@x\0pw'))), 'success');
  assert.deepEqual(calls, [['alice@x', 'alice@x', 'pw']]);
});

test('PLAIN messages that are not authzid NUL authcid NUL passwd are refused without a check', async () => {
  calls.length = 0;
  for (const bad of [b('alice@x\0pw'), b('\0\0pw'), b('\0alice@x\0'), b('a\0b\0c\0d'), Buffer.from([0, 0x61, 0, 0xff])]) {
    assert.equal(kind(await new PlainExchange(verify).next(bad)), 'failure:501 5.5.4');
  }
  assert.deepEqual(calls, []);
});

test('LOGIN: Username:, Password:, then the check; an initial response is the user name', async () => {
  calls.length = 0;
  const e = new LoginExchange(verify);
  assert.equal(kind(await e.next(null)), 'challenge:Username:');
  assert.equal(kind(await e.next(b('alice@x'))), 'challenge:Password:');
  assert.equal(kind(await e.next(b('pw'))), 'success');
  const f = new LoginExchange(verify);
  assert.equal(kind(await f.next(b('bob@x'))), 'challenge:Password:');
  assert.equal(kind(await f.next(b('pw2'))), 'success');
  assert.deepEqual(calls, [['', 'alice@x', 'pw'], ['', 'bob@x', 'pw2']]);
  assert.equal(kind(await new LoginExchange(verify).next(b(''))), 'failure:501 5.5.4');
});
