// Which addresses are loopback: the relay listens on them only (config/schema.ts) and serves only peers from them (app.ts).
import { BlockList, isIPv4, isIPv6 } from 'node:net';

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');
loopback.addSubnet('::ffff:127.0.0.0', 104, 'ipv6');

/** 127.0.0.0/8 and ::1, in any spelling, IPv4-mapped included; anything that is not an IP address is not loopback. */
export function isLoopbackIp(ip: string): boolean {
  if (isIPv4(ip)) return loopback.check(ip, 'ipv4');
  return isIPv6(ip) && loopback.check(ip, 'ipv6');
}
