// Reads the TOML config file (or takes the built-in defaults) and returns the frozen, validated Config.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { hostname as machineName } from 'node:os';
import { dirname, resolve } from 'node:path';
import { parse, TomlError } from 'smol-toml';
import type { Config } from './config.js';
import { ConfigError, type ConfigProblem } from './config-error.js';
import { configuredAddress, domainProblem } from '../mail/address.js';
import { configSchema, KNOWN_KEYS, type ParsedConfig } from './schema.js';
import { describeValue } from './units.js';

export interface LoadOptions {
  /** Folder that relative paths are resolved against when there is no file (default: process.cwd()). */
  readonly cwd?: string;
  /** The default `hostname` (default: os.hostname()). */
  readonly machineName?: string;
}

/** Name shown in problems when no file is read. */
export const DEFAULTS_NAME = '(defaults)';

/** The -c value, else ./facteur.toml when it exists, else null (built-in defaults). */
export function resolveConfigPath(cliValue: string | undefined): string | null {
  if (cliValue !== undefined) return cliValue;
  return existsSync('facteur.toml') ? './facteur.toml' : null;
}

/** Loads `file` (null: built-in defaults). Throws ConfigError listing every problem found. */
export async function loadConfig(file: string | null, opts: LoadOptions = {}): Promise<Config> {
  const cwd = opts.cwd ?? process.cwd();
  const shown = file ?? DEFAULTS_NAME;
  const raw = file === null ? {} : parseToml(await readText(file), file);

  const result = configSchema.safeParse(raw, { reportInput: true });
  const problems: ConfigProblem[] = result.success ? [] : result.error.issues.flatMap((issue) => toProblems(issue, shown));

  const hostname = typeof raw.hostname === 'string' ? raw.hostname : (opts.machineName ?? machineName());
  if (raw.hostname === undefined && domainProblem(hostname) !== null) {
    problems.push({ file: shown, key: 'hostname', problem: `not set, and the machine's name "${hostname}" is not a valid domain name: set hostname` });
  }
  if (!result.success || problems.length > 0) throw new ConfigError(problems);

  const base = file === null ? cwd : dirname(resolve(cwd, file));
  return deepFreeze(toConfig(result.data, { file: file === null ? null : resolve(cwd, file), base, hostname }));
}

async function readText(file: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.code === 'EISDIR' ? 'is a folder' : e.message;
    throw new ConfigError([{ file, key: '(file)', problem: `cannot read the config file: ${why}` }]);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new ConfigError([{ file, key: '(file)', problem: 'the config file is not valid UTF-8' }]);
  }
}

function parseToml(text: string, file: string): Record<string, unknown> {
  try {
    return parse(text);
  } catch (err) {
    if (!(err instanceof TomlError)) throw err;
    // smol-toml's message is "Invalid TOML document: <reason>\n\n<code excerpt>": keep the reason only.
    const reason = (err.message.split('\n')[0] ?? '').replace(/^Invalid TOML document:\s*/, '');
    throw new ConfigError([{ file, key: `line ${err.line}, column ${err.column}`, problem: `TOML syntax error: ${reason}` }]);
  }
}

interface Issue {
  readonly code: string;
  readonly path: readonly PropertyKey[];
  readonly message: string;
  readonly keys?: readonly string[];
  readonly expected?: string;
  readonly input?: unknown;
}

function toProblems(issue: Issue, file: string): ConfigProblem[] {
  if (issue.code === 'unrecognized_keys') {
    return (issue.keys ?? []).map((k) => ({ file, key: formatKey([...issue.path, k]), problem: `unknown key${suggestion(issue.path, k)}` }));
  }
  const key = formatKey(issue.path);
  if (issue.code === 'invalid_type') {
    const expected = issue.expected === 'object' ? 'a table' : `${issue.expected ?? 'another type'}`;
    return [{ file, key, problem: `expected ${expected}, found ${describeValue(issue.input)}` }];
  }
  return [{ file, key, problem: issue.message }];
}

/** "inbound.users.alice", with TOML quoting for keys that are not bare. */
function formatKey(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(top level)';
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : /^[A-Za-z0-9_-]+$/.test(String(p)) ? String(p) : JSON.stringify(String(p)))).join('.');
}

/** " (did you mean max_recipients?)" for a key one or two typos away from a known one. */
function suggestion(section: readonly PropertyKey[], key: string): string {
  const known = KNOWN_KEYS[section.map(String).join('.')] ?? [];
  const best = known.map((k) => ({ k, d: editDistance(k, key.toLowerCase()) })).sort((a, b) => a.d - b.d)[0];
  return best !== undefined && best.d <= 2 ? ` (did you mean ${best.k}?)` : '';
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min((row[j] ?? 0) + 1, (next[j - 1] ?? 0) + 1, (row[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length] ?? 0;
}

/** TOML names → the Config contract: absolute paths, camelCase, addresses with lower-cased domains. */
function toConfig(p: ParsedConfig, at: { file: string | null; base: string; hostname: string }): Config {
  const dataDir = resolve(at.base, p.data_dir);
  const fromBase = (v: string | undefined) => (v === undefined ? null : resolve(at.base, v));
  const users = Object.fromEntries(Object.entries(p.inbound.users).map(([name, list]) => [name, list.map(normalized)]));
  return {
    file: at.file,
    hostname: at.hostname,
    dataDir,
    workers: p.workers,
    dnsServers: p.dns_servers,
    log: { level: p.log.level, file: fromBase(p.log.file) },
    tls: { cert: fromBase(p.tls.cert), key: fromBase(p.tls.key), ciphers: p.tls.ciphers, minVersion: p.tls.min_version },
    metrics: { listen: p.metrics.listen ?? null },
    timeouts: { command: p.timeouts.command, data: p.timeouts.data, connect: p.timeouts.connect, shutdownGrace: p.timeouts.shutdown_grace },
    inbound: {
      enabled: p.inbound.enabled,
      listen: p.inbound.listen,
      listenTls: p.inbound.listen_tls,
      domains: [...new Set(p.inbound.domains)],
      maildirRoot: resolve(dataDir, p.inbound.maildir_root),
      usersFile: fromBase(p.inbound.users_file),
      maxMessageSize: p.inbound.max_message_size,
      maxRecipients: p.inbound.max_recipients,
      maxConnections: p.inbound.max_connections,
      maxIdleCommands: p.inbound.max_idle_commands,
      maxSessionTime: p.inbound.max_session_time,
      greetPause: p.inbound.greet_pause,
      maxConnectionsPerClient: p.inbound.max_connections_per_client,
      maxConnectionRate: p.inbound.max_connection_rate,
      maxMessageRate: p.inbound.max_message_rate,
      maxRecipientRate: p.inbound.max_recipient_rate,
      limitsExempt: p.inbound.limits_exempt,
      dnsbl: p.inbound.dnsbl,
      dnsblTimeout: p.inbound.dnsbl_timeout,
      greylist: {
        enabled: p.inbound.greylisting,
        delay: p.inbound.greylist_delay,
        expire: p.inbound.greylist_expire,
        lifetime: p.inbound.greylist_lifetime,
        autoWhitelist: p.inbound.greylist_auto_whitelist,
      },
      rspamd:
        p.inbound.rspamd === undefined
          ? null
          : { url: p.inbound.rspamd.url, timeout: p.inbound.rspamd.timeout, fail: p.inbound.rspamd.fail, spamToJunk: p.inbound.rspamd.spam_to_junk },
      users,
      verify: p.inbound.verify,
      store: {
        delivery: p.inbound.delivery,
        lmtp: p.inbound.lmtp ?? null,
        lmtpRecipient: p.inbound.lmtp_recipient,
        lmtpTimeout: p.inbound.lmtp_timeout,
        quota: p.inbound.quota,
        quotas: p.inbound.quotas,
        maildirGroup: p.inbound.maildir_group ?? null,
        maildirGroupWrite: p.inbound.maildir_group_write,
      },
      dmarcPolicy: p.inbound.dmarc_policy,
      recipientDelimiter: p.inbound.recipient_delimiter,
      deliverToSubfolder: p.inbound.deliver_to_subfolder,
      aliases: Object.fromEntries(Object.entries(p.inbound.aliases).map(([alias, targets]) => [normalized(alias), targets.map(normalized)])),
      srsDomain: p.inbound.srs_domain ?? p.inbound.domains[0]?.toLowerCase() ?? null,
      srsSecretFile: resolve(dataDir, p.inbound.srs_secret_file),
      srsMaxAge: p.inbound.srs_max_age,
    },
    outbound: {
      enabled: p.outbound.enabled,
      listen: p.outbound.listen,
      queueDir: resolve(dataDir, p.outbound.queue_dir),
      smtpPort: p.outbound.smtp_port,
      dnsServers: p.outbound.dns_servers.length > 0 ? p.outbound.dns_servers : p.dns_servers,
      tls: p.outbound.tls,
      caFile: fromBase(p.outbound.ca_file),
      mtaSts: p.outbound.mta_sts,
      dane: p.outbound.dane,
      addressPreference: p.outbound.address_preference,
      sourceIpv4: p.outbound.source_ipv4 ?? null,
      sourceIpv6: p.outbound.source_ipv6 ?? null,
      retryMin: p.outbound.retry_min,
      retryMax: p.outbound.retry_max,
      queueLifetime: p.outbound.queue_lifetime,
      maxMessageSize: p.outbound.max_message_size,
      maxRecipients: p.outbound.max_recipients,
      maxConnections: p.outbound.max_connections,
      maxIdleCommands: p.outbound.max_idle_commands,
      maxSessionTime: p.outbound.max_session_time,
      concurrency: p.outbound.concurrency,
      concurrencyPerDomain: p.outbound.concurrency_per_domain,
    },
    submission: {
      enabled: p.submission.enabled,
      listen: p.submission.listen,
      listenTls: p.submission.listen_tls,
      passwordsFile: resolve(at.base, p.submission.passwords_file),
      maxAuthFailures: p.submission.max_auth_failures,
      authFailureWindow: p.submission.auth_failure_window,
      authBan: p.submission.auth_ban,
      maxMessagesPerHour: p.submission.max_messages_per_hour,
      receivedShowsUser: p.submission.received_shows_user,
      maxConnections: p.submission.max_connections,
    },
    dkim: { domains: [...new Set(p.dkim.domains)], selector: p.dkim.selector, keyDir: resolve(dataDir, 'dkim') },
  };
}

/** "Alice@Example.ORG" → "Alice@example.org" (the local part keeps its case, RFC 5321 §2.4); checked by the schema. */
function normalized(address: string): string {
  if (address.startsWith('@')) return address.toLowerCase(); // a catch-all
  const a = configuredAddress(address);
  return 'problem' in a ? address : a.text;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
