// ClientLimits: per-client keys (IPv6 /64), open connections, sliding-minute rates that decay, exempt networks.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ClientLimits, clientKey, type ClientLimitSettings } from '../../../src/smtp/server/client-limits.js';

const settings = (over: Partial<ClientLimitSettings> = {}): ClientLimitSettings => ({
  maxConnections: 2,
  maxConnectionRate: 5,
  maxMessageRate: 3,
  maxRecipientRate: 4,
  exempt: ['127.0.0.0/8', '::1', '192.0.2.0/24'],
  ...over,
});

/** A clock the test moves by hand. */
function clock(start = 1_000_000 * 60_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('clientKey', () => {
  const cases: [string, string][] = [
    ['198.51.100.7', '198.51.100.7'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::9', '2001:db8:1:2::/64'],
    ['2001:DB8:0001:0002:ffff::1', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['2001:db8:1:2::1.2.3.4', '2001:db8:1:2::/64'],
  ];
  for (const [ip, want] of cases) test(`${ip} → ${want}`, () => assert.equal(clientKey(ip), want));
});

describe('ClientLimits', () => {
  test('connections at once: the third is refused until one is released; release twice counts once', () => {
    const c = clock();
    const limits = new ClientLimits(settings(), c.now);
    const a = limits.admit('198.51.100.7');
    const b = limits.admit('198.51.100.7');
    assert.ok('release' in a && 'release' in b);
    assert.deepEqual(limits.admit('198.51.100.7'), { refused: 'connections' });
    assert.ok('release' in limits.admit('198.51.100.8'), 'another client is not affected');
    a.release();
    a.release();
    assert.ok('release' in limits.admit('198.51.100.7'));
    assert.deepEqual(limits.admit('198.51.100.7'), { refused: 'connections' });
  });

  test('an IPv6 /64 is one client', () => {
    const limits = new ClientLimits(settings(), clock().now);
    limits.admit('2001:db8:1:2::1');
    limits.admit('2001:db8:1:2::2');
    assert.deepEqual(limits.admit('2001:db8:1:2:ffff::3'), { refused: 'connections' });
    assert.ok('release' in limits.admit('2001:db8:1:3::1'));
  });

  test('connection rate: past 5 in a minute refused; the count decays over the next minute', () => {
    const c = clock();
    const limits = new ClientLimits(settings({ maxConnections: 100 }), c.now);
    for (let i = 0; i < 5; i++) assert.ok('release' in limits.admit('198.51.100.7'), `connection ${i + 1}`);
    assert.deepEqual(limits.admit('198.51.100.7'), { refused: 'connection rate' });
    c.advance(60_000); // the next minute begins: last minute's 6 weigh fully, then less and less
    assert.deepEqual(limits.admit('198.51.100.7'), { refused: 'connection rate' });
    c.advance(59_000);
    assert.ok('release' in limits.admit('198.51.100.7'));
    c.advance(120_000);
    for (let i = 0; i < 5; i++) assert.ok('release' in limits.admit('198.51.100.7'), `after two quiet minutes, ${i + 1}`);
  });

  test('message and recipient rates', () => {
    const c = clock();
    const limits = new ClientLimits(settings(), c.now);
    for (let i = 0; i < 3; i++) assert.equal(limits.message('198.51.100.7'), null);
    assert.equal(limits.message('198.51.100.7'), 'message rate');
    for (let i = 0; i < 4; i++) assert.equal(limits.recipient('198.51.100.7'), null);
    assert.equal(limits.recipient('198.51.100.7'), 'recipient rate');
    assert.equal(limits.message('198.51.100.9'), null);
    c.advance(180_000);
    assert.equal(limits.message('198.51.100.7'), null);
  });

  test('exempt networks (loopback, configured ones) are never limited', () => {
    const limits = new ClientLimits(settings(), clock().now);
    for (const ip of ['127.0.0.1', '127.9.9.9', '::1', '192.0.2.200']) {
      for (let i = 0; i < 20; i++) {
        assert.ok('release' in limits.admit(ip), ip);
        assert.equal(limits.message(ip), null);
        assert.equal(limits.recipient(ip), null);
      }
    }
  });

  test('a change of limits_exempt (SIGHUP) is seen at once for an address already asked about', () => {
    const limits = new ClientLimits(settings(), clock().now);
    assert.equal(limits.isExempt('198.51.100.7'), false);
    limits.update(settings({ exempt: ['198.51.100.0/24'] }));
    assert.equal(limits.isExempt('198.51.100.7'), true);
    limits.update(settings({ exempt: [] }));
    assert.equal(limits.isExempt('198.51.100.7'), false);
    assert.equal(limits.isExempt('127.0.0.1'), false);
  });
});
