// Which DNS servers to ask: the configured ones ("192.0.2.53", "[::1]:5353"…), else the nameservers of /etc/resolv.conf.
import { readFile } from 'node:fs/promises';
import net from 'node:net';

export interface NameServer {
  /** An IP address. */
  readonly host: string;
  readonly port: number;
  /** "192.0.2.53:53", "[::1]:5353": for messages. */
  readonly text: string;
}

/** Where the system's resolver configuration lives (resolv.conf(5)). */
export const RESOLV_CONF = '/etc/resolv.conf';

/** "192.0.2.53", "::1", "127.0.0.1:5353" or "[::1]:5353" (the config's syntax); throws on anything else. */
export function parseNameServer(spec: string): NameServer {
  const s = spec.trim();
  if (net.isIP(s) !== 0) return server(s, 53);
  const bracketed = /^\[([^\]]+)\]:(\d{1,5})$/.exec(s);
  const m = bracketed ?? /^([^:[\]]+):(\d{1,5})$/.exec(s);
  const host = m?.[1] ?? '';
  const port = Number(m?.[2]);
  // IPv6 in brackets, IPv4 without: "[192.0.2.1]:53" and "::1:53"-style ambiguities are refused.
  const family = bracketed !== null ? 6 : 4;
  if (net.isIP(host) !== family || !(port >= 1 && port <= 65535)) throw new Error(`not a DNS server address: "${spec}" (expected an IP address, optionally with :PORT)`);
  return server(host, port);
}

function server(host: string, port: number): NameServer {
  return { host, port, text: net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}` };
}

/**
 * The `nameserver` lines of a resolv.conf text, in order (the resolver tries them in that order). Zone indexes
 * ("fe80::1%eth0") are kept, as the socket needs them. glibc uses at most 3; so do we. Without any, glibc asks the
 * local host: so do we.
 */
export function parseResolvConf(text: string): NameServer[] {
  const found: NameServer[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const m = /^nameserver\s+(\S+)$/.exec(line);
    if (m === null) continue;
    const host = m[1] as string;
    if (net.isIP(host.replace(/%.*$/, '')) !== 0) found.push(server(host, 53));
  }
  return found.length > 0 ? found.slice(0, 3) : [server('127.0.0.1', 53), server('::1', 53)];
}

/** The system's nameservers; an unreadable file counts as an empty one (then the local host, as glibc does). */
export async function systemNameServers(path = RESOLV_CONF): Promise<NameServer[]> {
  let text = '';
  try {
    text = await readFile(path, 'utf8');
  } catch {
    // No resolv.conf (a container without one): the defaults below.
  }
  return parseResolvConf(text);
}
