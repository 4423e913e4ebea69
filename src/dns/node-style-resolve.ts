// dns.promises.resolve(name, rrtype) with our resolver behind it: same answer shapes, same err.code values.
import type { DnsResolver } from './dns-resolver.js';
import type { RecordType } from './dns-error.js';
import type { MxRecord } from './records.js';

/** The shape of node:dns/promises `resolve`, for the rrtypes mail authentication uses. */
export interface NodeStyleResolve {
  (name: string): Promise<string[]>;
  (name: string, rrtype: 'A' | 'AAAA' | 'CNAME' | 'NS' | 'PTR'): Promise<string[]>;
  (name: string, rrtype: 'MX'): Promise<{ exchange: string; priority: number }[]>;
  (name: string, rrtype: 'TXT'): Promise<string[][]>;
  (name: string, rrtype: string): Promise<unknown[]>;
}

const SUPPORTED = new Set<string>(['A', 'AAAA', 'CNAME', 'NS', 'PTR', 'MX', 'TXT']);

/**
 * A drop-in for `dns.promises.resolve` (what mailauth and similar libraries take as their `resolver`): A, AAAA,
 * CNAME, NS, PTR give string[]; MX gives {exchange, priority}[]; TXT gives string[][] (each record's strings, not
 * joined). Failures are DnsError with Node's codes on err.code: ENOTFOUND (NXDOMAIN), ENODATA, ETIMEOUT,
 * ESERVFAIL, EREFUSED, ECONNREFUSED, EBADNAME. Answers come from the shared cache, so a library asking for the
 * same TXT record twice in one message costs one query.
 */
export function nodeStyleResolve(dns: Pick<DnsResolver, 'query'>): NodeStyleResolve {
  const resolve = async (name: string, rrtype = 'A'): Promise<unknown[]> => {
    const type = String(rrtype).toUpperCase();
    if (!SUPPORTED.has(type)) {
      // node:dns throws a TypeError with this code for an rrtype it does not know.
      throw Object.assign(new TypeError(`The argument 'rrtype' is invalid. Received '${String(rrtype)}'`), { code: 'ERR_INVALID_ARG_VALUE' });
    }
    const answer = await dns.query(name, type as RecordType);
    if (type === 'MX') return (answer.records as MxRecord[]).map((r) => ({ exchange: r.exchange, priority: r.preference }));
    if (type === 'TXT') return (answer.records as readonly (readonly string[])[]).map((r) => [...r]);
    return [...(answer.records as string[])];
  };
  return resolve as NodeStyleResolve;
}
