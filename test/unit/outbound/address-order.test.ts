// outbound.address_preference: the order in which an MX host's addresses are tried.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { orderAddresses } from '../../../src/outbound/mx-resolver.js';

const v6 = ['2001:db8::1', '2001:db8::2'];
const v4 = ['192.0.2.1', '192.0.2.2', '192.0.2.3'];

test('ipv6: AAAA then A; ipv4: A then AAAA; any: alternating, IPv6 first', () => {
  assert.deepEqual(orderAddresses(v6, v4, 'ipv6'), [...v6, ...v4]);
  assert.deepEqual(orderAddresses(v6, v4, 'ipv4'), [...v4, ...v6]);
  assert.deepEqual(orderAddresses(v6, v4, 'any'), ['2001:db8::1', '192.0.2.1', '2001:db8::2', '192.0.2.2', '192.0.2.3']);
  assert.deepEqual(orderAddresses([], v4, 'any'), v4);
  assert.deepEqual(orderAddresses(v6, [], 'ipv4'), v6);
});
