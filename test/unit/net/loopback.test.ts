// isLoopbackIp: the relay's peers and listen addresses, 127.0.0.0/8 and ::1 only, in the form the server sees them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isLoopbackIp } from '../../../src/net/loopback.js';
import { normalizeIp } from '../../../src/smtp/server/connection.js';

test('isLoopbackIp (after normalizeIp): 127.0.0.0/8 and ::1 only', () => {
  const cases: [string, boolean][] = [
    ['127.0.0.1', true],
    ['127.8.9.10', true],
    ['127.255.255.254', true],
    ['::1', true],
    ['::ffff:127.0.0.1', true],
    ['::ffff:127.1.2.3', true],
    ['10.0.0.1', false],
    ['::', false],
    ['0.0.0.0', false],
    ['192.0.2.1', false],
    ['::ffff:10.0.0.1', false],
    ['::ffff:192.0.2.1', false],
    ['128.0.0.1', false],
    ['2001:db8::1', false],
    ['fe80::1', false],
    ['', false],
  ];
  for (const [ip, expected] of cases) assert.equal(isLoopbackIp(normalizeIp(ip)), expected, ip);
});

test('isLoopbackIp: every spelling of a loopback address, as a config may write it', () => {
  for (const ip of ['0:0:0:0:0:0:0:1', '::ffff:7f00:1', '::ffff:127.0.0.1', '127.0.0.53']) assert.equal(isLoopbackIp(ip), true, ip);
  for (const ip of ['localhost', '::2', '::ffff:10.0.0.1', '1.2.3', '127.0.0.1:25']) assert.equal(isLoopbackIp(ip), false, ip);
});
