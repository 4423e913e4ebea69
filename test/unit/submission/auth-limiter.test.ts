// Failed logins per address: the growing delay, the ban and its end, IPv6 counted by /64.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AuthLimiter, clientKey } from '../../../src/submission/auth-limiter.js';

const MIN = 60_000;

function limiter(maxFailures = 3) {
  let now = 1_000_000;
  const l = new AuthLimiter({ maxFailures, windowMs: 10 * MIN, banMs: 60 * MIN, now: () => now });
  return { l, advance: (ms: number) => (now += ms), now: () => now };
}

test('each failure waits twice as long as the one before, up to a cap', () => {
  const { l } = limiter(100);
  const delays = Array.from({ length: 8 }, () => l.fail('192.0.2.1').delayMs);
  assert.deepEqual(delays, [250, 500, 1000, 2000, 4000, 8000, 8000, 8000]);
});

test('the ban starts at the last allowed failure and ends after auth_ban', () => {
  const { l, advance, now } = limiter(3);
  assert.equal(l.fail('192.0.2.1').bannedUntil, null);
  assert.equal(l.fail('192.0.2.1').bannedUntil, null);
  assert.equal(l.bannedUntil('192.0.2.1'), null);
  const third = l.fail('192.0.2.1');
  assert.equal(third.failures, 3);
  assert.equal(third.bannedUntil, now() + 60 * MIN);
  assert.equal(l.bannedUntil('192.0.2.1'), now() + 60 * MIN);
  assert.equal(l.bannedUntil('192.0.2.2'), null, 'another address is not banned');
  advance(60 * MIN - 1);
  assert.notEqual(l.bannedUntil('192.0.2.1'), null);
  advance(1);
  assert.equal(l.bannedUntil('192.0.2.1'), null);
  // After the ban the count starts over.
  assert.equal(l.fail('192.0.2.1').failures, 1);
});

test('failures older than the window are forgotten', () => {
  const { l, advance } = limiter(3);
  l.fail('192.0.2.1');
  l.fail('192.0.2.1');
  advance(10 * MIN + 1);
  const f = l.fail('192.0.2.1');
  assert.equal(f.failures, 1);
  assert.equal(f.bannedUntil, null);
});

test('IPv6 addresses count by /64; IPv4 by address', () => {
  assert.equal(clientKey('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
  assert.equal(clientKey('2001:db8:1:2::9'), '2001:db8:1:2::/64');
  assert.equal(clientKey('2001:DB8::1'), '2001:db8:0:0::/64');
  assert.equal(clientKey('::1'), '0:0:0:0::/64');
  assert.equal(clientKey('64:ff9b::192.0.2.1'), '64:ff9b:0:0::/64');
  assert.equal(clientKey('192.0.2.1'), '192.0.2.1');
  const { l } = limiter(2);
  l.fail('2001:db8:1:2::1');
  l.fail('2001:db8:1:2::ffff');
  assert.notEqual(l.bannedUntil('2001:db8:1:2:abcd::1'), null);
  assert.equal(l.bannedUntil('2001:db8:1:3::1'), null);
});
