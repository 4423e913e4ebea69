// The value checkers of the config schema: each turns one TOML value into its typed form, or throws Invalid with
// words an operator can act on (units, addresses, networks, lists), for schema.ts to assemble into tables.
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';
import { domainProblem } from '../mail/address.js';
import { checkUsers as userProblems } from '../mail/local-users.js';
import { isLoopbackIp } from '../net/loopback.js';
import { addNetwork } from '../net/networks.js';
import { checkCipherList } from '../tls/tls-profile.js';
import type { DnsblZone, ListenAddress } from './config.js';
import { describeValue, parseDuration, parseSize, UnitError } from './units.js';

export type Path = readonly (string | number)[];

/** One or more problems with a value; `path` is relative to the value's key. */
export class Invalid extends Error {
  constructor(readonly problems: readonly { readonly path?: Path; readonly message: string }[]) {
    super(problems.map((p) => p.message).join('; '));
  }
  static of(message: string): Invalid {
    return new Invalid([{ message }]);
  }
}

/** A value checked and converted by a plain function that throws Invalid (or UnitError) with readable text. */
export function field<T>(convert: (value: unknown) => T) {
  return z.unknown().transform((value, ctx): T => {
    try {
      return convert(value);
    } catch (err) {
      if (err instanceof UnitError) ctx.issues.push({ code: 'custom', message: err.message, input: value });
      else if (err instanceof Invalid) for (const p of err.problems) ctx.issues.push({ code: 'custom', message: p.message, input: value, path: [...(p.path ?? [])] });
      else throw err;
      return z.NEVER;
    }
  });
}

export const str = (v: unknown): string => {
  if (typeof v !== 'string') throw Invalid.of(`expected a string, found ${describeValue(v)}`);
  return v;
};
export const path = field((v) => {
  const s = str(v);
  if (s === '' || s.includes('\0')) throw Invalid.of('expected a file or folder path');
  return s;
});
export const bool = field((v) => {
  if (typeof v !== 'boolean') throw Invalid.of(`expected true or false, found ${describeValue(v)}`);
  return v;
});
export const integer = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  field((v) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw Invalid.of(`expected a whole number from ${min} to ${max}, found ${describeValue(v)}`);
    }
    return v;
  });
export const duration = (max: number) =>
  field((v) => {
    const ms = parseDuration(v);
    if (ms <= 0) throw Invalid.of(`"${String(v)}" must be longer than zero`);
    if (ms > max) throw Invalid.of(`"${String(v)}" is too long (at most ${Math.floor(max / 86_400_000)}d)`);
    return ms;
  });
/** A duration that may be zero ("0s": off). */
export const durationOrZero = (max: number) =>
  field((v) => {
    const ms = parseDuration(v);
    if (ms > max) throw Invalid.of(`"${String(v)}" is too long (at most ${Math.floor(max / 86_400_000)}d)`);
    return ms;
  });
export const size = field((v) => {
  const bytes = parseSize(v);
  if (bytes <= 0) throw Invalid.of(`${JSON.stringify(v)} must be more than zero bytes`);
  return bytes;
});
export const cipherList = field((v) => {
  const s = str(v);
  try {
    checkCipherList(s);
  } catch (err) {
    throw Invalid.of(`not a usable OpenSSL cipher list: ${(err as Error).message}`);
  }
  return s;
});
export const oneOf = <T extends string>(values: readonly T[]) =>
  field((v) => {
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
      throw Invalid.of(`expected one of ${values.map((x) => `"${x}"`).join(', ')}, found ${describeValue(v)}`);
    }
    return v as T;
  });

/** Applies `check` to every string of a list, collecting one problem per bad entry. */
export function listOf<T>(check: (s: string) => T) {
  return field((v): T[] => {
    if (!Array.isArray(v)) throw Invalid.of(`expected a list, found ${describeValue(v)}`);
    const out: T[] = [];
    const problems: { message: string }[] = [];
    for (const item of v) {
      try {
        out.push(check(str(item)));
      } catch (err) {
        if (!(err instanceof Invalid)) throw err;
        problems.push(...err.problems);
      }
    }
    if (problems.length > 0) throw new Invalid(problems);
    return out;
  });
}

// --- Names and addresses (their rules live in src/mail and src/net) ------------------------------

export function domain(s: string): string {
  const problem = domainProblem(s);
  if (problem !== null) throw Invalid.of(`"${s}" is not a valid domain name: it ${problem}`);
  return s.toLowerCase();
}

/** "192.0.2.0/24", "2001:db8::/32" or a single address. */
export const network = (s: string): string => {
  try {
    addNetwork(new BlockList(), s);
  } catch (err) {
    throw Invalid.of((err as Error).message);
  }
  return s.trim();
};

/**
 * A DNS blocklist: "zen.spamhaus.org", or with the answers that count as listed, "zen.spamhaus.org=127.0.0.2,127.0.0.4"
 * (IPv4 addresses in 127.0.0.0/8, where blocklists answer, RFC 5782 §2.1).
 */
export function dnsblZone(s: string): DnsblZone {
  const [zoneText = '', codesText] = s.trim().split('=', 2) as [string, string?];
  const zone = domain(zoneText.replace(/\.$/, ''));
  if (codesText === undefined) return { zone, codes: null };
  const codes = codesText.split(',').map((c) => c.trim());
  const bad = codes.find((c) => !isIPv4(c) || !c.startsWith('127.'));
  if (bad !== undefined) throw Invalid.of(`"${s}": "${bad}" is not an address in 127.0.0.0/8 (write zone=127.0.0.2,127.0.0.4)`);
  return { zone, codes };
}

/** rspamd's base URL: http only (rspamd serves no TLS), a host, no query. */
export const httpUrl = field((v) => {
  const s = str(v);
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    throw Invalid.of(`"${s}" is not a URL: write "http://127.0.0.1:11333"`);
  }
  if (url.protocol !== 'http:') throw Invalid.of(`"${s}": only http:// is supported (rspamd serves plain HTTP; use a TLS proxy such as stunnel for a remote one)`);
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') throw Invalid.of(`"${s}": no query, fragment or credentials in the URL`);
  return url.href.replace(/\/$/, '');
});

/** "[::]:25" → { host: "::", port: 25 }; "127.0.0.1:2587" → { host: "127.0.0.1", port: 2587 }. Hosts are IP literals. */
export function parseHostPort(text: string, what: string, minPort: number): ListenAddress {
  const s = text.trim();
  const bracketed = /^\[([^\]]*)\]:(\d+)$/.exec(s);
  const plain = /^([^:[\]]*):(\d+)$/.exec(s);
  const [host, port] = bracketed !== null ? [bracketed[1] ?? '', bracketed[2]] : plain !== null ? [plain[1] ?? '', plain[2]] : [null, null];
  if (host === null || port === undefined || port === null) {
    if (isIPv6(s.replace(/:\d+$/, '')) || isIPv6(s)) throw Invalid.of(`"${text}": put an IPv6 address in brackets, as in "[::1]:25"`);
    throw Invalid.of(`"${text}" is not a ${what}: expected HOST:PORT, as in "127.0.0.1:25" or "[::]:25"`);
  }
  if (bracketed !== null ? !isIPv6(host) : !isIPv4(host)) {
    throw Invalid.of(`"${text}": "${host}" is not an ${bracketed !== null ? 'IPv6' : 'IPv4'} address (host names are not accepted: give an IP address)`);
  }
  const n = Number(port);
  if (n < minPort || n > 65535) throw Invalid.of(`"${text}": port ${port} is not between ${minPort} and 65535`);
  return { host, port: n, text: s };
}

export const listenAddress = (s: string) => parseHostPort(s, 'listen address', 0);
export function loopbackListenAddress(s: string): ListenAddress {
  const a = listenAddress(s);
  if (!isLoopbackIp(a.host)) throw Invalid.of(`"${s}" is not a loopback address: the relay must listen on 127.0.0.0/8 or [::1] only, or anyone could send mail through it`);
  return a;
}
/** A DNS server: "192.0.2.53", "::1", "127.0.0.1:5353" or "[::1]:5353", as node:dns setServers() takes them. */
export function dnsServer(s: string): string {
  if (isIPv4(s) || isIPv6(s)) return s;
  return parseHostPort(s, 'DNS server', 1).text;
}

// --- Users --------------------------------------------------------------------------------------

/** [inbound.users]: a table of mailbox = [addresses]; the rules that need inbound.domains are in the inbound refinement. */
export const users = field((v): Record<string, string[]> => {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Date) throw Invalid.of(`expected a table of mailbox = [addresses], found ${describeValue(v)}`);
  const out: Record<string, string[]> = {};
  const problems: { path: Path; message: string }[] = [];
  for (const [name, list] of Object.entries(v)) {
    if (!Array.isArray(list) || !list.every((a) => typeof a === 'string')) {
      problems.push({ path: [name], message: `expected a list of addresses, found ${describeValue(list)}` });
    } else {
      out[name] = list;
    }
  }
  if (problems.length > 0) throw new Invalid(problems);
  return out;
});

export type AddIssue = (issue: { code: 'custom'; message: string; path: (string | number)[] }) => void;

/**
 * The users' rules (mail/local-users.ts), each problem under its mailbox's key. `domains` is not a list when
 * inbound.domains itself is wrong: then the addresses' domains are only checked for syntax.
 */
export function checkUsers(inbound: { domains: unknown; users: Record<string, string[]> }, addIssue: AddIssue): void {
  const domains = Array.isArray(inbound.domains) ? inbound.domains.map((d) => String(d).toLowerCase()) : null;
  const entries = Object.entries(inbound.users).map(([mailbox, addresses]) => ({ where: `inbound.users.${mailbox}`, mailbox, addresses }));
  for (const p of userProblems(entries, domains)) addIssue({ code: 'custom', message: p.message, path: ['users', p.mailbox] });
}

// --- Sections -----------------------------------------------------------------------------------

