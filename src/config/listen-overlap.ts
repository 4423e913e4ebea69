// Which listen addresses of different servers would fight over one socket (same port, overlapping addresses).
import { isIPv4 } from 'node:net';
import type { ListenAddress } from './config.js';

/** A listen address and the key it came from, e.g. "submission.listen". */
export interface KeyedAddress {
  readonly key: string;
  readonly address: ListenAddress;
}

export interface Overlap {
  readonly a: KeyedAddress;
  readonly b: KeyedAddress;
}

/**
 * Whether two addresses cannot both be bound: the same port (0 never clashes: the system picks a free one), and
 * the same host, or a wildcard that covers the other. "[::]" is bound dual-stack here (listener.ts: ipv6Only
 * false), so it covers every IPv4 and IPv6 address; "0.0.0.0" covers the IPv4 ones.
 */
export function overlaps(a: ListenAddress, b: ListenAddress): boolean {
  if (a.port !== b.port || a.port === 0) return false;
  if (a.host === b.host || a.host === '::' || b.host === '::') return true;
  return (a.host === '0.0.0.0' && isIPv4(b.host)) || (b.host === '0.0.0.0' && isIPv4(a.host));
}

/** Every pair of `mine` × (`mine` ∪ `others`) that overlaps, each pair once; `others` are not compared among themselves. */
export function findOverlaps(mine: readonly KeyedAddress[], others: readonly KeyedAddress[]): Overlap[] {
  const found: Overlap[] = [];
  mine.forEach((a, i) => {
    for (const b of [...mine.slice(i + 1), ...others]) if (overlaps(a.address, b.address)) found.push({ a, b });
  });
  return found;
}
