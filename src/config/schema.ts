// The TOML config file's schema: keys, defaults, units, syntax of names and addresses, and cross-key rules.
//
// Every key is optional; each one, its default and meaning is in the README's Configuration table. Beyond the keys of
// the first version:
//   [timeouts] command = "5m"         server: waiting for the next command (RFC 5321 §4.5.3.2.7: at least 5 minutes)
//              data = "10m"           server: waiting for the next chunk of message data
//              connect = "5m"         client: connection + greeting (RFC 5321 §4.5.3.2.1)
//              shutdown_grace = "10s" time given to sessions in flight on SIGTERM
//   [inbound], [outbound] max_idle_commands = 100   command lines in a row without an accepted message, then 421
//              max_session_time = "1h"  longest session (checked before each command), then 421
//   [outbound] max_message_size = "25MB", max_recipients = 100, max_connections = 100,
//              concurrency = 20 (deliveries in flight), concurrency_per_domain = 4
//   [submission] received_shows_user = false (name the authenticated user in Received), max_connections = 100
//   [inbound]  dnsbl = [] ("zone" or "zone=127.0.0.2,127.0.0.4"), dnsbl_timeout = "2s",
//              greylisting = false, greylist_delay = "5m", greylist_expire = "1d", greylist_lifetime = "35d",
//              greylist_auto_whitelist = 5
//   [inbound.rspamd] url = "http://127.0.0.1:11333", timeout = "15s", fail = "accept", spam_to_junk = true
//              (the table present turns the filter on)
// Mail authentication keys (INTERFACE.md "Added keys"): dns_servers = [] at the top level; [dkim] domains = [],
// selector = "facteur"; [inbound] verify = false (on in examples/facteur.toml), dmarc_policy = "enforce".
import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';
import { MAX_TIMER_MS } from '../time/timers.js';
import type { ListenAddress, LogLevel } from './config.js';
import { DEFAULT_CIPHERS, DEFAULT_MIN_VERSION } from '../tls/tls-profile.js';
import { findOverlaps, type KeyedAddress } from './listen-overlap.js';
import { SELECTOR } from '../mailauth/dkim-keys.js';
import { checkForwardingNeedsRelay, checkInlineAliases, routingShape } from './schema-routing.js';
import { describeValue } from './units.js';
import { MAX_WORKERS } from '../workers/worker-count.js';
import { groupName, lmtpEndpoint, quota, quotas } from './schema-store.js';
import {
  type AddIssue,
  Invalid,
  bool,
  checkUsers,
  cipherList,
  dnsServer,
  dnsblZone,
  domain,
  duration,
  durationOrZero,
  field,
  httpUrl,
  integer,
  listOf,
  listenAddress,
  loopbackListenAddress,
  network,
  oneOf,
  path,
  size,
  str,
  users,
} from './schema-fields.js';

export { parseHostPort } from './schema-fields.js';

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
  command: duration(MAX_TIMER_MS).prefault('5m'),
  data: duration(MAX_TIMER_MS).prefault('10m'),
  connect: duration(MAX_TIMER_MS).prefault('5m'),
  shutdown_grace: duration(MAX_TIMER_MS).prefault('10s'),
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
  max_session_time: duration(MAX_TIMER_MS).prefault('1h'),
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
    timeout: duration(MAX_TIMER_MS).prefault('15s'),
    fail: oneOf(['accept', 'defer'] as const).prefault('accept'),
    spam_to_junk: bool.prefault(true),
  }).optional(),
  users: users.prefault({}),
  verify: bool.prefault(false),
  dmarc_policy: oneOf(['enforce', 'report'] as const).prefault('enforce'),
  ...routingShape,
  // The local store (schema-store.ts): Maildir written here or LMTP to Dovecot; quotas; the Maildirs' group.
  delivery: oneOf(['maildir', 'lmtp'] as const).prefault('maildir'),
  lmtp: lmtpEndpoint.optional(),
  lmtp_recipient: oneOf(['mailbox', 'address'] as const).prefault('mailbox'),
  lmtp_timeout: duration(MAX_TIMER_MS).prefault('2m'),
  quota: quota.prefault(0),
  quotas: quotas.prefault({}),
  maildir_group: groupName.optional(),
  maildir_group_write: bool.prefault(false),
};

const outboundShape = {
  enabled: bool.prefault(true),
  listen: listOf(loopbackListenAddress).prefault(['127.0.0.1:587', '[::1]:587']),
  queue_dir: path.prefault('queue'),
  smtp_port: integer(1, 65535).prefault(25),
  dns_servers: listOf(dnsServer).prefault([]),
  tls: oneOf(['opportunistic', 'required', 'verify'] as const).prefault('opportunistic'),
  ca_file: path.optional(),
  mta_sts: bool.prefault(true),
  dane: bool.prefault(false),
  address_preference: oneOf(['ipv6', 'ipv4', 'any'] as const).prefault('ipv6'),
  source_ipv4: field((v) => {
    const s = str(v);
    if (!isIPv4(s)) throw Invalid.of(`"${s}" is not an IPv4 address`);
    return s;
  }).optional(),
  source_ipv6: field((v) => {
    const s = str(v);
    if (!isIPv6(s)) throw Invalid.of(`"${s}" is not an IPv6 address`);
    return s;
  }).optional(),
  retry_min: duration(MAX_TIMER_MS).prefault('5m'),
  retry_max: duration(MAX_TIMER_MS).prefault('1h'),
  queue_lifetime: duration(Number.MAX_SAFE_INTEGER).prefault('5d'),
  max_message_size: size.prefault('25MB'),
  max_recipients: integer(1).prefault(100),
  max_connections: integer(1).prefault(100),
  max_idle_commands: integer(1).prefault(100),
  max_session_time: duration(MAX_TIMER_MS).prefault('1h'),
  concurrency: integer(1).prefault(20),
  concurrency_per_domain: integer(1).prefault(4),
};

const submissionShape = {
  enabled: bool.prefault(false),
  listen: listOf(listenAddress).prefault(['[::]:587']),
  listen_tls: listOf(listenAddress).prefault([]),
  passwords_file: path.prefault('passwords'),
  max_auth_failures: integer(1).prefault(10),
  auth_failure_window: duration(MAX_TIMER_MS).prefault('10m'),
  auth_ban: duration(MAX_TIMER_MS).prefault('1h'),
  max_messages_per_hour: integer(1).prefault(500),
  received_shows_user: bool.prefault(false),
  max_connections: integer(1).prefault(100),
};

const dkimShape = {
  domains: listOf(domain).prefault([]),
  selector: field((v) => {
    const s = str(v);
    if (!SELECTOR.test(s)) throw Invalid.of(`"${s}" is not a valid selector: use letters, digits and inner hyphens, in dot-separated labels (RFC 6376 §3.1)`);
    return s;
  }).prefault('facteur'),
};

/** Cross-key checks run even when other keys of the table are wrong, as long as the table and the keys they read are usable. */
const keysUsable =
  (...keys: string[]) =>
  (payload: { value: unknown; issues: readonly { path?: readonly PropertyKey[] }[] }) =>
    typeof payload.value === 'object' &&
    payload.value !== null &&
    !Array.isArray(payload.value) &&
    !payload.issues.some((i) => keys.includes(String(i.path?.[0])));

const metricsShape = {
  listen: field((v) => listenAddress(str(v))).optional(),
};

const rootShape = {
  hostname: field((v) => {
    const s = str(v);
    domain(s);
    return s;
  }).optional(),
  data_dir: path.prefault('data'),
  // "auto": one worker process per CPU (os.availableParallelism()); 1, the default: one process, no fork (two workers
  // measured slower than one process on two shared vCPUs, README "Worker processes").
  workers: field((v): number | 'auto' => {
    if (v === 'auto') return 'auto';
    if (typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= MAX_WORKERS) return v;
    throw Invalid.of(`expected "auto" or a whole number from 1 to ${MAX_WORKERS}, found ${describeValue(v)}`);
  }).prefault(1),
  dns_servers: listOf(dnsServer).prefault([]),
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
  metrics: z.strictObject(metricsShape).prefault({}),
  inbound: z
    .strictObject(inboundShape)
    .superRefine((inbound, ctx) => checkUsers(inbound, (issue) => ctx.addIssue(issue)), { when: keysUsable('users') })
    .superRefine((inbound, ctx) => checkInlineAliases(inbound, (issue) => ctx.addIssue(issue)), { when: keysUsable('aliases') })
    .superRefine((inbound, ctx) => {
      if (inbound.delivery === 'lmtp' && inbound.lmtp === undefined) {
        ctx.addIssue({ code: 'custom', message: 'delivery = "lmtp" needs inbound.lmtp, e.g. "unix:/run/dovecot/lmtp" or "127.0.0.1:24"', path: ['lmtp'] });
      }
      for (const name of Object.keys(inbound.quotas)) {
        if (!Object.hasOwn(inbound.users, name) && inbound.users_file === undefined) ctx.addIssue({ code: 'custom', message: `"${name}" is not a mailbox of inbound.users`, path: ['quotas', name] });
      }
    }, { when: keysUsable('delivery', 'lmtp', 'quotas', 'users', 'users_file') })
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
  submission: z.strictObject(submissionShape).prefault({}),
  dkim: z.strictObject(dkimShape).prefault({}),
};

type Root = { inbound: z.output<typeof rootShape.inbound>; outbound: z.output<typeof rootShape.outbound>; submission: z.output<typeof rootShape.submission> };

/** Submission goes into the relay's queue, and its ports must not be another server's. */
function checkSubmission(root: Root, addIssue: AddIssue): void {
  const { inbound, outbound, submission } = root;
  if (!submission.enabled) return;
  if (!outbound.enabled) {
    addIssue({ code: 'custom', message: 'submission needs the outbound relay: submitted mail goes into its queue (set outbound.enabled = true)', path: ['submission', 'enabled'] });
  }
  const keyed = (key: string, list: readonly ListenAddress[]): KeyedAddress[] => list.map((address) => ({ key, address }));
  const mine = [...keyed('submission.listen', submission.listen), ...keyed('submission.listen_tls', submission.listen_tls)];
  const others = [
    ...(inbound.enabled ? [...keyed('inbound.listen', inbound.listen), ...keyed('inbound.listen_tls', inbound.listen_tls)] : []),
    ...(outbound.enabled ? keyed('outbound.listen', outbound.listen) : []),
  ];
  for (const { a, b } of findOverlaps(mine, others)) {
    const [key, field] = a.key.split('.') as [string, string];
    const message =
      a.key === 'submission.listen_tls' && b.key === 'inbound.listen_tls'
        ? `"${a.address.text}" is also in inbound.listen_tls ("${b.address.text}"): an implicit TLS port is either the MX's or submission's (RFC 8314 gives 465 to submission), not both; give one of them another port`
        : `"${a.address.text}" overlaps ${b.key} ("${b.address.text}"): two listeners cannot share a port; give one of them another port or address` +
          (b.key === 'outbound.listen' ? ' (for example move the loopback relay: outbound.listen = ["127.0.0.1:10587", "[::1]:10587"])' : '');
    addIssue({ code: 'custom', message, path: [key, field] });
  }
}

export const configSchema = z
  .strictObject(rootShape)
  .superRefine((root, ctx) => checkSubmission(root, (issue) => ctx.addIssue(issue)), { when: keysUsable('inbound', 'outbound', 'submission') })
  .superRefine((root, ctx) => checkForwardingNeedsRelay(root, (issue) => ctx.addIssue(issue)), { when: keysUsable('inbound', 'outbound') });

/** The file's content after validation: TOML key names, units converted, paths still as written. */
export type ParsedConfig = z.output<typeof configSchema>;

/** The keys each table accepts, for "did you mean" hints on unknown keys. */
export const KNOWN_KEYS: Readonly<Record<string, readonly string[]>> = {
  '': Object.keys(rootShape),
  log: Object.keys(logShape),
  tls: Object.keys(tlsShape),
  timeouts: Object.keys(timeoutsShape),
  metrics: Object.keys(metricsShape),
  inbound: Object.keys(inboundShape),
  'inbound.rspamd': ['url', 'timeout', 'fail', 'spam_to_junk'],
  outbound: Object.keys(outboundShape),
  submission: Object.keys(submissionShape),
  dkim: Object.keys(dkimShape),
};
