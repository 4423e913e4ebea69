// The TOML config file's schema: keys, defaults, units, syntax of names and addresses, and cross-key rules.
//
// Keys beyond shared INTERFACE.md, all optional (the defaults are those below):
//   [timeouts] command = "5m"         server: waiting for the next command (RFC 5321 §4.5.3.2.7: at least 5 minutes)
//              data = "10m"           server: waiting for the next chunk of message data
//              connect = "5m"         client: connection + greeting (RFC 5321 §4.5.3.2.1)
//              shutdown_grace = "10s" time given to sessions in flight on SIGTERM (INTERFACE.md: 10 s)
//   [inbound], [outbound] max_idle_commands = 100   command lines in a row without an accepted message, then 421
//              max_session_time = "1h"  longest session (checked before each command), then 421
//   [outbound] max_message_size = "25MB", max_recipients = 100, max_connections = 100,
//              concurrency = 20 (deliveries in flight), concurrency_per_domain = 4
//   [inbound]  dnsbl = [] ("zone" or "zone=127.0.0.2,127.0.0.4"), dnsbl_timeout = "2s",
//              greylisting = false, greylist_delay = "5m", greylist_expire = "1d", greylist_lifetime = "35d",
//              greylist_auto_whitelist = 5
//   [inbound.rspamd] url = "http://127.0.0.1:11333", timeout = "15s", fail = "accept", spam_to_junk = true
//              (the table present turns the filter on)
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';
import type { DnsblZone, ListenAddress, LogLevel } from './config.js';
import { addNetwork } from '../net/networks.js';
import { checkCipherList, DEFAULT_CIPHERS, DEFAULT_MIN_VERSION } from '../tls/tls-profile.js';
import { describeValue, parseDuration, parseSize, UnitError } from './units.js';

type Path = readonly (string | number)[];

/** One or more problems with a value; `path` is relative to the value's key. */
class Invalid extends Error {
  constructor(readonly problems: readonly { readonly path?: Path; readonly message: string }[]) {
    super(problems.map((p) => p.message).join('; '));
  }
  static of(message: string): Invalid {
    return new Invalid([{ message }]);
  }
}

/** A value checked and converted by a plain function that throws Invalid (or UnitError) with readable text. */
function field<T>(convert: (value: unknown) => T) {
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

const MAX_TIMER = 2 ** 31 - 1; // Node timers overflow past this (about 24.8 days) and fire at once.

const str = (v: unknown): string => {
  if (typeof v !== 'string') throw Invalid.of(`expected a string, found ${describeValue(v)}`);
  return v;
};
const path = field((v) => {
  const s = str(v);
  if (s === '' || s.includes('\0')) throw Invalid.of('expected a file or folder path');
  return s;
});
const bool = field((v) => {
  if (typeof v !== 'boolean') throw Invalid.of(`expected true or false, found ${describeValue(v)}`);
  return v;
});
const integer = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  field((v) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw Invalid.of(`expected a whole number from ${min} to ${max}, found ${describeValue(v)}`);
    }
    return v;
  });
const duration = (max: number) =>
  field((v) => {
    const ms = parseDuration(v);
    if (ms <= 0) throw Invalid.of(`"${String(v)}" must be longer than zero`);
    if (ms > max) throw Invalid.of(`"${String(v)}" is too long (at most ${Math.floor(max / 86_400_000)}d)`);
    return ms;
  });
/** A duration that may be zero ("0s": off). */
const durationOrZero = (max: number) =>
  field((v) => {
    const ms = parseDuration(v);
    if (ms > max) throw Invalid.of(`"${String(v)}" is too long (at most ${Math.floor(max / 86_400_000)}d)`);
    return ms;
  });
const size = field((v) => {
  const bytes = parseSize(v);
  if (bytes <= 0) throw Invalid.of(`${JSON.stringify(v)} must be more than zero bytes`);
  return bytes;
});
const cipherList = field((v) => {
  const s = str(v);
  try {
    checkCipherList(s);
  } catch (err) {
    throw Invalid.of(`not a usable OpenSSL cipher list: ${(err as Error).message}`);
  }
  return s;
});
const oneOf = <T extends string>(values: readonly T[]) =>
  field((v) => {
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
      throw Invalid.of(`expected one of ${values.map((x) => `"${x}"`).join(', ')}, found ${describeValue(v)}`);
    }
    return v as T;
  });

/** Applies `check` to every string of a list, collecting one problem per bad entry. */
function listOf<T>(check: (s: string) => T) {
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

// --- Names and addresses ------------------------------------------------------------------------

/**
 * A domain name as RFC 5321 §4.1.2 "Domain" allows it: dot-separated labels of letters, digits and
 * hyphens (not at either end), at most 63 octets each and 253 in all (RFC 1035 §2.3.4); a last label
 * of digits only would be an IPv4 address (RFC 3696 §2). Internationalized names go in A-label form (xn--).
 */
export function domainProblem(name: string): string | null {
  if (name.length === 0) return 'is empty';
  if (name.length > 253) return 'is longer than 253 characters';
  const labels = name.split('.');
  for (const label of labels) {
    if (label === '') return 'has an empty label (two dots, or a dot at an end)';
    if (label.length > 63) return `has a label longer than 63 characters`;
    if (!/^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$/.test(label)) return `has a label "${label}" with characters other than letters, digits and inner hyphens`;
  }
  if (/^\d+$/.test(labels[labels.length - 1] ?? '')) return 'ends with a numeric label (an IP address is not a domain name)';
  return null;
}

export function isDomainName(name: string): boolean {
  return domainProblem(name) === null;
}

function domain(s: string): string {
  const problem = domainProblem(s);
  if (problem !== null) throw Invalid.of(`"${s}" is not a valid domain name: it ${problem}`);
  return s.toLowerCase();
}

// RFC 5321 §4.1.2 Dot-string of atext (RFC 5322 §3.2.3), plus non-ASCII UTF-8 for SMTPUTF8 (RFC 6531 §3.3).
const DOT_STRING = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\u{10FFFF}-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\u{10FFFF}-]+)*$/u;

/** "Alice@Example.ORG" → "Alice@example.org" (the local part keeps its case, RFC 5321 §2.4). */
export function normalizeAddress(s: string): string {
  const at = s.lastIndexOf('@');
  if (at <= 0) throw Invalid.of(`"${s}" is not an address: expected local-part@domain`);
  const local = s.slice(0, at);
  if (!DOT_STRING.test(local)) throw Invalid.of(`"${s}" is not a valid address: the local part must be letters, digits, dots (not doubled or at an end) and !#$%&'*+/=?^_\`{|}~-`);
  // RFC 5321 §4.5.3.1.1: a local part is at most 64 octets.
  if (Buffer.byteLength(local) > 64) throw Invalid.of(`"${s}" is not a valid address: the local part is longer than 64 octets`);
  const problem = domainProblem(s.slice(at + 1));
  if (problem !== null) throw Invalid.of(`"${s}" is not a valid address: its domain ${problem}`);
  return `${local}@${s.slice(at + 1).toLowerCase()}`;
}

/** Mailbox names become folder names: never a path, never "." or "..". */
export const MAILBOX_NAME = /^[A-Za-z0-9._-]{1,255}$/;
export function isMailboxName(name: string): boolean {
  return MAILBOX_NAME.test(name) && name !== '.' && name !== '..';
}

/** "192.0.2.0/24", "2001:db8::/32" or a single address. */
const network = (s: string): string => {
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
function dnsblZone(s: string): DnsblZone {
  const [zoneText = '', codesText] = s.trim().split('=', 2) as [string, string?];
  const zone = domain(zoneText.replace(/\.$/, ''));
  if (codesText === undefined) return { zone, codes: null };
  const codes = codesText.split(',').map((c) => c.trim());
  const bad = codes.find((c) => !isIPv4(c) || !c.startsWith('127.'));
  if (bad !== undefined) throw Invalid.of(`"${s}": "${bad}" is not an address in 127.0.0.0/8 (write zone=127.0.0.2,127.0.0.4)`);
  return { zone, codes };
}

/** rspamd's base URL: http only (rspamd serves no TLS), a host, no query. */
const httpUrl = field((v) => {
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

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');
loopback.addSubnet('::ffff:127.0.0.0', 104, 'ipv6');

/** 127.0.0.0/8 and ::1 (in any spelling, IPv4-mapped included). */
export function isLoopbackIp(ip: string): boolean {
  if (isIPv4(ip)) return loopback.check(ip, 'ipv4');
  return isIPv6(ip) && loopback.check(ip, 'ipv6');
}

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

const listenAddress = (s: string) => parseHostPort(s, 'listen address', 0);
function loopbackListenAddress(s: string): ListenAddress {
  const a = listenAddress(s);
  if (!isLoopbackIp(a.host)) throw Invalid.of(`"${s}" is not a loopback address: the relay must listen on 127.0.0.0/8 or [::1] only, or anyone could send mail through it`);
  return a;
}
/** A DNS server: "192.0.2.53", "::1", "127.0.0.1:5353" or "[::1]:5353", as node:dns setServers() takes them. */
function dnsServer(s: string): string {
  if (isIPv4(s) || isIPv6(s)) return s;
  return parseHostPort(s, 'DNS server', 1).text;
}

// --- Users --------------------------------------------------------------------------------------

/** [inbound.users]: a table of mailbox = [addresses]; the rules that need inbound.domains are in the inbound refinement. */
const users = field((v): Record<string, string[]> => {
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

type AddIssue = (issue: { code: 'custom'; message: string; path: (string | number)[] }) => void;

/**
 * Mailbox names, address syntax, addresses only in local domains, no address in two mailboxes.
 * `domains` is not a list when inbound.domains itself is wrong: then the domain rule is left out.
 */
function checkUsers(inbound: { domains: unknown; users: Record<string, string[]> }, addIssue: AddIssue): void {
  const domains: unknown[] | null = Array.isArray(inbound.domains) ? inbound.domains : null;
  const owners = new Map<string, string>(); // lower-cased address → mailbox
  const folders = new Map<string, string>(); // lower-cased mailbox → mailbox
  const problem = (name: string, message: string) => addIssue({ code: 'custom', message, path: ['users', name] });
  for (const [name, list] of Object.entries(inbound.users)) {
    if (!isMailboxName(name)) {
      problem(name, `"${name}" is not a valid mailbox name: use letters, digits, ".", "_" and "-" (it becomes a folder name; "." and ".." are refused)`);
    }
    const sameFolder = folders.get(name.toLowerCase());
    if (sameFolder !== undefined) problem(name, `mailbox "${name}" differs from "${sameFolder}" only by case (they would share one folder on some file systems)`);
    folders.set(name.toLowerCase(), name);
    for (const address of list) {
      let a: string;
      try {
        a = normalizeAddress(address);
      } catch (err) {
        if (!(err instanceof Invalid)) throw err;
        problem(name, err.message);
        continue;
      }
      if (domains !== null && !domains.includes(a.slice(a.lastIndexOf('@') + 1))) {
        problem(name, `"${address}" is not in a local domain (inbound.domains = [${domains.map((x) => `"${String(x)}"`).join(', ')}]), so no mail for it would ever be accepted`);
      }
      const owner = owners.get(a.toLowerCase());
      if (owner !== undefined) problem(name, `"${address}" is listed twice (already in mailbox "${owner}")`);
      owners.set(a.toLowerCase(), name);
    }
  }
}

// --- Sections -----------------------------------------------------------------------------------

const logShape = {
  level: oneOf<LogLevel>(['error', 'warn', 'info', 'debug']).prefault('info'),
  file: path.optional(),
};

const tlsShape = {
  cert: path.optional(),
  key: path.optional(),
  ciphers: cipherList.prefault(DEFAULT_CIPHERS),
  min_version: oneOf(['TLSv1.2', 'TLSv1.3'] as const).prefault(DEFAULT_MIN_VERSION),
};

const timeoutsShape = {
  command: duration(MAX_TIMER).prefault('5m'),
  data: duration(MAX_TIMER).prefault('10m'),
  connect: duration(MAX_TIMER).prefault('5m'),
  shutdown_grace: duration(MAX_TIMER).prefault('10s'),
};

const inboundShape = {
  enabled: bool.prefault(true),
  listen: listOf(listenAddress).prefault(['[::]:25']),
  listen_tls: listOf(listenAddress).prefault(['[::]:465']),
  domains: listOf(domain).prefault([]),
  maildir_root: path.prefault('mail'),
  users_file: path.optional(),
  max_message_size: size.prefault('25MB'),
  max_recipients: integer(1).prefault(100),
  max_connections: integer(1).prefault(1000),
  max_idle_commands: integer(1).prefault(100),
  max_session_time: duration(MAX_TIMER).prefault('1h'),
  greet_pause: durationOrZero(60_000).prefault('0s'),
  max_connections_per_client: integer(1).prefault(20),
  max_connection_rate: integer(1).prefault(60),
  max_message_rate: integer(1).prefault(300),
  max_recipient_rate: integer(1).prefault(1000),
  limits_exempt: listOf(network).prefault(['127.0.0.0/8', '::1']),
  dnsbl: listOf(dnsblZone).prefault([]),
  dnsbl_timeout: duration(60_000).prefault('2s'),
  greylisting: bool.prefault(false),
  greylist_delay: durationOrZero(7 * 86_400_000).prefault('5m'),
  greylist_expire: duration(Number.MAX_SAFE_INTEGER).prefault('1d'),
  greylist_lifetime: duration(Number.MAX_SAFE_INTEGER).prefault('35d'),
  greylist_auto_whitelist: integer(0).prefault(5),
  rspamd: z.strictObject({
    url: httpUrl.prefault('http://127.0.0.1:11333'),
    timeout: duration(MAX_TIMER).prefault('15s'),
    fail: oneOf(['accept', 'defer'] as const).prefault('accept'),
    spam_to_junk: bool.prefault(true),
  }).optional(),
  users: users.prefault({}),
};

const outboundShape = {
  enabled: bool.prefault(true),
  listen: listOf(loopbackListenAddress).prefault(['127.0.0.1:587', '[::1]:587']),
  queue_dir: path.prefault('queue'),
  smtp_port: integer(1, 65535).prefault(25),
  dns_servers: listOf(dnsServer).prefault([]),
  tls: oneOf(['opportunistic', 'required'] as const).prefault('opportunistic'),
  retry_min: duration(MAX_TIMER).prefault('5m'),
  retry_max: duration(MAX_TIMER).prefault('1h'),
  queue_lifetime: duration(Number.MAX_SAFE_INTEGER).prefault('5d'),
  max_message_size: size.prefault('25MB'),
  max_recipients: integer(1).prefault(100),
  max_connections: integer(1).prefault(100),
  max_idle_commands: integer(1).prefault(100),
  max_session_time: duration(MAX_TIMER).prefault('1h'),
  concurrency: integer(1).prefault(20),
  concurrency_per_domain: integer(1).prefault(4),
};

/** Cross-key checks run even when other keys of the table are wrong, as long as the table and the keys they read are usable. */
const keysUsable =
  (...keys: string[]) =>
  (payload: { value: unknown; issues: readonly { path?: readonly PropertyKey[] }[] }) =>
    typeof payload.value === 'object' &&
    payload.value !== null &&
    !Array.isArray(payload.value) &&
    !payload.issues.some((i) => keys.includes(String(i.path?.[0])));

const rootShape = {
  hostname: field((v) => {
    const s = str(v);
    domain(s);
    return s;
  }).optional(),
  data_dir: path.prefault('data'),
  log: z.strictObject(logShape).prefault({}),
  tls: z
    .strictObject(tlsShape)
    .superRefine(({ cert, key }, ctx) => {
      if ((cert === undefined) !== (key === undefined)) {
        const [missing, present] = cert === undefined ? ['cert', 'key'] : ['key', 'cert'];
        ctx.addIssue({ code: 'custom', message: `missing: tls.${present} is set, so tls.${missing} must be too (give neither for a self-signed certificate)`, path: [missing] });
      }
    }, { when: keysUsable('cert', 'key') })
    .prefault({}),
  timeouts: z.strictObject(timeoutsShape).prefault({}),
  inbound: z
    .strictObject(inboundShape)
    .superRefine((inbound, ctx) => checkUsers(inbound, (issue) => ctx.addIssue(issue)), { when: keysUsable('users') })
    .superRefine((inbound, ctx) => {
      // A triple is let through on a retry after the delay and forgotten after expire: expire must leave room to retry.
      if (inbound.greylist_expire <= inbound.greylist_delay) {
        ctx.addIssue({ code: 'custom', message: 'must be longer than inbound.greylist_delay, or no retry could ever pass', path: ['greylist_expire'] });
      }
    }, { when: keysUsable('greylist_delay', 'greylist_expire') })
    .prefault({}),
  outbound: z
    .strictObject(outboundShape)
    .superRefine((outbound, ctx) => {
      if (outbound.retry_min > outbound.retry_max) {
        ctx.addIssue({ code: 'custom', message: 'must not be longer than outbound.retry_max', path: ['retry_min'] });
      }
    }, { when: keysUsable('retry_min', 'retry_max') })
    .prefault({}),
};

export const configSchema = z.strictObject(rootShape);

/** The file's content after validation: TOML key names, units converted, paths still as written. */
export type ParsedConfig = z.output<typeof configSchema>;

/** The keys each table accepts, for "did you mean" hints on unknown keys. */
export const KNOWN_KEYS: Readonly<Record<string, readonly string[]>> = {
  '': Object.keys(rootShape),
  log: Object.keys(logShape),
  tls: Object.keys(tlsShape),
  timeouts: Object.keys(timeoutsShape),
  inbound: Object.keys(inboundShape),
  'inbound.rspamd': ['url', 'timeout', 'fail', 'spam_to_junk'],
  outbound: Object.keys(outboundShape),
};
