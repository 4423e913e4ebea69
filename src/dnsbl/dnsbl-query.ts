// The DNS side of a blocklist (RFC 5782): the name asked for a client address, and what an answer means.
import { isIPv4, isIPv6 } from 'node:net';

/**
 * The name to look up for `ip` in `zone` (RFC 5782 §2.1, §2.4): an IPv4 address's octets reversed
 * ("192.0.2.99" → "99.2.0.192.zone"), an IPv6 address's 32 nibbles reversed. null for anything else.
 */
export function queryName(ip: string, zone: string): string | null {
  if (isIPv4(ip)) return `${ip.split('.').reverse().join('.')}.${zone}`;
  if (!isIPv6(ip)) return null;
  const nibbles = ipv6Groups(ip)
    .map((g) => g.toString(16).padStart(4, '0'))
    .join('');
  return `${[...nibbles].reverse().join('.')}.${zone}`;
}

/** The eight 16-bit groups of an IPv6 address ("::" expanded, an embedded IPv4 tail as two groups, no zone). */
function ipv6Groups(ip: string): number[] {
  const [head = '', tail] = ip.split('%')[0]!.split('::') as [string, string?];
  const groups = (part: string): number[] =>
    part === ''
      ? []
      : part.split(':').flatMap((g) => {
          if (!g.includes('.')) return [parseInt(g, 16)];
          const [a, b, c, d] = g.split('.').map(Number) as [number, number, number, number];
          return [(a << 8) | b, (c << 8) | d];
        });
  const left = groups(head);
  if (tail === undefined) return left;
  const right = groups(tail);
  return [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
}

/**
 * What the A records of one lookup mean:
 * - listed: an answer in 127.0.0.0/8 (RFC 5782 §2.1), and among `codes` when the operator gave some;
 * - unusable: an answer outside 127.0.0.0/8 (a resolver that rewrites NXDOMAIN, a list that was shut down and
 *   now answers everything), or 127.255.255.0/24, Spamhaus's "you are querying through a public resolver / over
 *   your quota / a malformed query" codes: the list cannot be trusted now, so it neither lists nor clears;
 * - clear: an answer, but not one that lists (a code the filter leaves out), or no address.
 */
export type AnswerMeaning = { readonly kind: 'listed'; readonly code: string } | { readonly kind: 'clear' } | { readonly kind: 'unusable'; readonly code: string };

export function classifyAnswer(addresses: readonly string[], codes: readonly string[] | null): AnswerMeaning {
  for (const a of addresses) {
    if (!isIPv4(a) || !a.startsWith('127.') || a.startsWith('127.255.255.')) return { kind: 'unusable', code: a };
  }
  const hit = addresses.find((a) => codes === null || codes.includes(a));
  return hit === undefined ? { kind: 'clear' } : { kind: 'listed', code: hit };
}
