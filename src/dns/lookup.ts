// A `lookup` function for node:net, node:tls and node:https connections, answered by our resolver (AAAA before A).
import type { LookupAddress, LookupOptions } from 'node:dns';
import net from 'node:net';
import type { DnsResolver } from './dns-resolver.js';
import { DnsError, isDnsError } from './dns-error.js';

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** What node:net calls to resolve a host name: (hostname, options, callback). */
export type LookupFunction = (hostname: string, options: LookupOptions, callback: LookupCallback) => void;

/** The host's addresses, IPv6 first, with whether every answer was DNSSEC-authenticated. Throws DnsError. */
export async function lookupAddresses(dns: Pick<DnsResolver, 'a' | 'aaaa'>, host: string): Promise<{ addresses: LookupAddress[]; authenticated: boolean }> {
  if (net.isIP(host) !== 0) return { addresses: [{ address: host, family: net.isIP(host) }], authenticated: false };
  const [v6, v4] = await Promise.allSettled([dns.aaaa(host), dns.a(host)]);
  const addresses: LookupAddress[] = [];
  let authenticated = true;
  for (const [result, family] of [[v6, 6], [v4, 4]] as const) {
    if (result.status !== 'fulfilled') continue;
    authenticated &&= result.value.authenticated;
    for (const address of result.value.records) addresses.push({ address, family });
  }
  if (addresses.length > 0) return { addresses, authenticated };
  // Neither has records: a temporary failure of either one wins over a denial, which could be wrong.
  const errors = [v6, v4].flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  const temporary = errors.find((e) => isDnsError(e) && e.temporary);
  if (temporary !== undefined) throw temporary;
  const notFound = errors.find((e) => isDnsError(e) && e.code === 'ENOTFOUND');
  if (notFound !== undefined) throw notFound;
  if (errors[0] !== undefined && !isDnsError(errors[0])) throw errors[0];
  throw new DnsError('ENODATA', host, 'A', false, 0, 'no AAAA or A record');
}

/**
 * Every name a connection of ours dials goes through the configured DNS servers (the MTA-STS policy host too),
 * never through getaddrinfo: one resolver, one cache, and tests answer from loopback.
 */
export function lookupVia(dns: Pick<DnsResolver, 'a' | 'aaaa'>): LookupFunction {
  return (hostname, options, callback) => {
    lookupAddresses(dns, hostname).then(
      ({ addresses }) => {
        const wanted = options.family === 4 || options.family === 6 ? addresses.filter((a) => a.family === options.family) : addresses;
        if (wanted.length === 0) {
          callback(new DnsError('ENODATA', hostname, options.family === 6 ? 'AAAA' : 'A', false, 0, `no IPv${String(options.family)} address`), '');
          return;
        }
        if (options.all === true) callback(null, wanted);
        else callback(null, (wanted[0] as LookupAddress).address, (wanted[0] as LookupAddress).family);
      },
      (err: unknown) => callback(err as NodeJS.ErrnoException, ''),
    );
  };
}
