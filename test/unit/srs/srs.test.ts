// SRS: the round trip of SRS0 and SRS1 addresses, and the refusal of forged, damaged and expired ones.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isSrsLocal, Srs, SrsError } from '../../../src/srs/srs.js';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 11, 3);

function srs(opts: { domain?: string; secrets?: string[]; now?: number; maxAgeDays?: number } = {}): Srs {
  return new Srs({
    secrets: (opts.secrets ?? ['secret one']).map((s) => Buffer.from(s)),
    domain: opts.domain ?? 'example.org',
    maxAge: (opts.maxAgeDays ?? 21) * DAY,
    now: () => opts.now ?? T0,
  });
}

const refusedFor = (reason: string) => (err: unknown) => {
  assert.ok(err instanceof SrsError, String(err));
  assert.equal(err.reason, reason);
  return true;
};

test('SRS0: the shape of the paper, and back to the original sender', () => {
  const s = srs();
  const fwd = s.forward({ local: 'sender', domain: 'client.example' });
  assert.equal(fwd.domain, 'example.org');
  assert.match(fwd.local, /^SRS0=[A-Za-z0-9+/]{4}=[A-Z2-7]{2}=client\.example=sender$/);
  assert.ok(isSrsLocal(fwd.local));
  assert.deepEqual(s.reverse(fwd.local), { local: 'sender', domain: 'client.example' });
});

test('the hash and the stamp are compared without case (some hops lower-case local parts)', () => {
  const s = srs();
  const fwd = s.forward({ local: 'Sender.Name', domain: 'Client.Example' });
  assert.deepEqual(s.reverse(fwd.local.toLowerCase()), { local: 'sender.name', domain: 'client.example' });
  assert.deepEqual(s.reverse(fwd.local.toUpperCase()), { local: 'SENDER.NAME', domain: 'CLIENT.EXAMPLE' });
});

test('a local part with "=" and "+" survives the round trip', () => {
  const s = srs();
  const original = { local: 'a=b+c', domain: 'client.example' };
  assert.deepEqual(s.reverse(s.forward(original).local), original);
});

test('SRS1: forwarding someone else\'s SRS0 address, then back to their forwarder', () => {
  const first = srs({ domain: 'forwarder.example', secrets: ['their secret'] });
  const srs0 = first.forward({ local: 'sender', domain: 'client.example' });
  const ours = srs();
  const srs1 = ours.forward(srs0);
  assert.match(srs1.local, /^SRS1=[A-Za-z0-9+/]{4}=forwarder\.example==[A-Za-z0-9+/]{4}=[A-Z2-7]{2}=client\.example=sender$/);
  assert.equal(srs1.domain, 'example.org');
  const back = ours.reverse(srs1.local);
  assert.deepEqual(back, srs0);
  // And their forwarder undoes its own.
  assert.deepEqual(first.reverse(back.local), { local: 'sender', domain: 'client.example' });
});

test('SRS1 of an SRS1: the first forwarder stays, the hash becomes ours', () => {
  const other = srs({ domain: 'second.example', secrets: ['second'] });
  const first = srs({ domain: 'first.example', secrets: ['first'] });
  const srs1 = other.forward(first.forward({ local: 'sender', domain: 'client.example' }));
  const ours = srs();
  const again = ours.forward(srs1);
  assert.match(again.local, /^SRS1=[^=]{4}=first\.example==/);
  assert.equal(ours.reverse(again.local).domain, 'first.example');
});

test('forged, damaged and expired addresses are refused, with why', () => {
  const s = srs();
  const good = s.forward({ local: 'sender', domain: 'client.example' }).local;
  const hash = good.split('=')[1]!;
  const cases: [string, string][] = [
    [good.replace(hash, hash === 'AAAA' ? 'BBBB' : 'AAAA'), 'hash'],
    [good.replace('client.example', 'attacker.example'), 'hash'],
    [good.replace('=sender', '=someone'), 'hash'],
    ['SRS0=abcd=AA=client.example', 'syntax'],
    ['SRS0=', 'syntax'],
    ['SRS1=abcd=forwarder.example', 'syntax'],
    ['SRS1=abcd=forwarder.example==xyz=AA=client.example=sender', 'hash'],
    ['alice', 'syntax'],
  ];
  for (const [local, reason] of cases) assert.throws(() => s.reverse(local), refusedFor(reason), local);
  // Made 30 days ago, honoured for 21.
  const old = srs({ now: T0 - 30 * DAY }).forward({ local: 'sender', domain: 'client.example' }).local;
  assert.throws(() => s.reverse(old), refusedFor('expired'));
  // Made 21 days ago: still good; a stamp from tomorrow counts as very old.
  const edge = srs({ now: T0 - 21 * DAY }).forward({ local: 'sender', domain: 'client.example' }).local;
  assert.deepEqual(s.reverse(edge), { local: 'sender', domain: 'client.example' });
  const future = srs({ now: T0 + 2 * DAY }).forward({ local: 'sender', domain: 'client.example' }).local;
  assert.throws(() => s.reverse(future), refusedFor('expired'));
});

test('another secret: the hash is not ours; with it among the secrets, it verifies (rotation)', () => {
  const before = srs({ secrets: ['old'] }).forward({ local: 'sender', domain: 'client.example' }).local;
  assert.throws(() => srs({ secrets: ['new'] }).reverse(before), refusedFor('hash'));
  assert.deepEqual(srs({ secrets: ['new', 'old'] }).reverse(before), { local: 'sender', domain: 'client.example' });
});

test('isSrsLocal: SRS0 and SRS1 with "=", "+" or "-", any case', () => {
  for (const yes of ['SRS0=a=b=c=d', 'srs0+x', 'SRS1-x', 'srs1=x']) assert.equal(isSrsLocal(yes), true, yes);
  for (const no of ['SRS2=x', 'srs0', 'alice', 'xSRS0=a']) assert.equal(isSrsLocal(no), false, no);
});
