// `facteur check-config`: validate the config (and the users file), warn about doubtful settings, print the effective settings.
import { join } from 'node:path';
import type { Config, ListenAddress } from '../config/config.js';
import { ConfigError, formatProblem, type ConfigProblem } from '../config/config-error.js';
import { DEFAULTS_NAME, loadConfig, resolveConfigPath } from '../config/load-config.js';
import { formatDuration, formatSize } from '../config/units.js';
import { Mailboxes } from '../inbound/mailboxes.js';

export interface CheckOutput {
  out(text: string): void;
  err(text: string): void;
}

const processOutput: CheckOutput = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

/** Exit code 0 (valid; warnings on stderr) or 2 (problems on stderr, one "FILE: key: problem" per line). */
export async function runCheckConfig(cliPath: string | undefined, output: CheckOutput = processOutput): Promise<number> {
  const file = resolveConfigPath(cliPath);
  const shown = file ?? DEFAULTS_NAME;
  let config: Config;
  try {
    config = await loadConfig(file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    output.err(`${err.message}\n`);
    return 2;
  }

  let mailboxes: Mailboxes | null = null;
  if (config.inbound.enabled) {
    try {
      mailboxes = await Mailboxes.load(config.inbound);
    } catch (err) {
      output.err(`${formatProblem({ file: shown, key: 'inbound.users_file', problem: (err as Error).message })}\n`);
      return 2;
    }
  }
  for (const w of warnings(config, mailboxes, shown)) output.err(`${formatProblem(w)}\n`);
  output.out(formatSettings(config, mailboxes));
  return 0;
}

/** Settings that work but are probably not what the operator wants. */
export function warnings(config: Config, mailboxes: Mailboxes | null, file: string): ConfigProblem[] {
  const found: ConfigProblem[] = [];
  const warn = (key: string, problem: string) => found.push({ file, key, problem: `warning: ${problem}` });
  if (config.inbound.enabled && mailboxes !== null) {
    if (config.inbound.domains.length === 0) warn('inbound.domains', 'no local domain: the inbound server will refuse every recipient');
    for (const domain of config.inbound.domains) {
      // RFC 5321 §4.5.1: every domain that accepts mail must accept mail for its postmaster.
      if (!mailboxes.hasPostmaster(domain)) warn('inbound.users', `no mailbox receives postmaster@${domain} (RFC 5321 §4.5.1 requires one)`);
    }
  }
  // RFC 5321 §4.5.3.2.7: a server SHOULD wait at least 5 minutes for the next command.
  if (config.timeouts.command < 5 * 60_000) warn('timeouts.command', `${formatDuration(config.timeouts.command)} is shorter than the 5 minutes RFC 5321 §4.5.3.2.7 asks for`);
  // RFC 5321 §4.5.3.1.8: at least 100 recipients MUST be buffered.
  if (config.inbound.maxRecipients < 100) warn('inbound.max_recipients', 'RFC 5321 §4.5.3.1.8 requires accepting at least 100 recipients');
  if (config.outbound.maxRecipients < 100) warn('outbound.max_recipients', 'RFC 5321 §4.5.3.1.8 requires accepting at least 100 recipients');
  return found;
}

/** The effective settings as TOML (paths absolute, units in the largest exact unit); loading it gives the same Config. */
export function formatSettings(config: Config, mailboxes: Mailboxes | null): string {
  const str = (s: string) => JSON.stringify(s); // a JSON string is a valid TOML basic string
  const list = (items: readonly string[]) => `[${items.map(str).join(', ')}]`;
  const addresses = (items: readonly ListenAddress[]) => list(items.map((a) => a.text));
  const size = (n: number) => `${str(formatSize(n))}  # ${n} bytes`;
  const duration = (ms: number) => `${str(formatDuration(ms))}  # ${ms} ms`;
  const key = (k: string) => (/^[A-Za-z0-9_-]+$/.test(k) ? k : str(k));
  const optional = (name: string, value: string | null, otherwise: string) => (value === null ? `# ${name}: not set, ${otherwise}` : `${name} = ${str(value)}`);
  const { inbound, outbound, timeouts } = config;

  const lines = [
    `# Effective settings of ${config.file ?? 'the built-in defaults'}${config.file === null ? '' : ' (built-in defaults for the keys it leaves out)'}.`,
    `hostname = ${str(config.hostname)}`,
    `data_dir = ${str(config.dataDir)}`,
    '',
    '[log]',
    `level = ${str(config.log.level)}`,
    optional('file', config.log.file, 'the log goes to stderr'),
    '',
    '[tls]',
    optional('cert', config.tls.cert, `a self-signed certificate for ${config.hostname} is kept in ${join(config.dataDir, 'tls')}`),
    optional('key', config.tls.key, 'see cert'),
    `ciphers = ${str(config.tls.ciphers)}`,
    `min_version = ${str(config.tls.minVersion)}`,
    '',
    '[timeouts]',
    `command = ${duration(timeouts.command)}`,
    `data = ${duration(timeouts.data)}`,
    `connect = ${duration(timeouts.connect)}`,
    `shutdown_grace = ${duration(timeouts.shutdownGrace)}`,
    '',
    '[inbound]',
    `enabled = ${inbound.enabled}`,
    `listen = ${addresses(inbound.listen)}`,
    `listen_tls = ${addresses(inbound.listenTls)}`,
    `domains = ${list(inbound.domains)}`,
    `maildir_root = ${str(inbound.maildirRoot)}`,
    optional('users_file', inbound.usersFile, 'only [inbound.users]'),
    `max_message_size = ${size(inbound.maxMessageSize)}`,
    `max_recipients = ${inbound.maxRecipients}`,
    `max_connections = ${inbound.maxConnections}`,
    `max_idle_commands = ${inbound.maxIdleCommands}`,
    `max_session_time = ${duration(inbound.maxSessionTime)}`,
    `greet_pause = ${duration(inbound.greetPause)}`,
    `max_connections_per_client = ${inbound.maxConnectionsPerClient}`,
    `max_connection_rate = ${inbound.maxConnectionRate}  # per minute`,
    `max_message_rate = ${inbound.maxMessageRate}  # per minute`,
    `max_recipient_rate = ${inbound.maxRecipientRate}  # per minute`,
    `limits_exempt = ${list(inbound.limitsExempt)}`,
    `dnsbl = ${list(inbound.dnsbl.map((z) => (z.codes === null ? z.zone : `${z.zone}=${z.codes.join(',')}`)))}`,
    `dnsbl_timeout = ${duration(inbound.dnsblTimeout)}`,
    `greylisting = ${inbound.greylist.enabled}`,
    `greylist_delay = ${duration(inbound.greylist.delay)}`,
    `greylist_expire = ${duration(inbound.greylist.expire)}`,
    `greylist_lifetime = ${duration(inbound.greylist.lifetime)}`,
    `greylist_auto_whitelist = ${inbound.greylist.autoWhitelist}`,
    ...(inbound.rspamd === null
      ? ['', '# [inbound.rspamd]: not set, no spam filter']
      : [
          '',
          '[inbound.rspamd]',
          `url = ${str(inbound.rspamd.url)}`,
          `timeout = ${duration(inbound.rspamd.timeout)}`,
          `fail = ${str(inbound.rspamd.fail)}`,
          `spam_to_junk = ${inbound.rspamd.spamToJunk}`,
        ]),
    '',
    '[inbound.users]',
    ...Object.entries(inbound.users).map(([name, addrs]) => `${key(name)} = ${list(addrs)}`),
    ...(mailboxes === null || inbound.usersFile === null ? [] : [`# every mailbox, users_file included: ${mailboxes.names().join(', ')}`]),
    '',
    '[outbound]',
    `enabled = ${outbound.enabled}`,
    `listen = ${addresses(outbound.listen)}`,
    `queue_dir = ${str(outbound.queueDir)}`,
    `smtp_port = ${outbound.smtpPort}`,
    `dns_servers = ${list(outbound.dnsServers)}${outbound.dnsServers.length === 0 ? '  # the system resolver' : ''}`,
    `tls = ${str(outbound.tls)}`,
    `retry_min = ${duration(outbound.retryMin)}`,
    `retry_max = ${duration(outbound.retryMax)}`,
    `queue_lifetime = ${duration(outbound.queueLifetime)}`,
    `max_message_size = ${size(outbound.maxMessageSize)}`,
    `max_recipients = ${outbound.maxRecipients}`,
    `max_connections = ${outbound.maxConnections}`,
    `max_idle_commands = ${outbound.maxIdleCommands}`,
    `max_session_time = ${duration(outbound.maxSessionTime)}`,
    `concurrency = ${outbound.concurrency}`,
    `concurrency_per_domain = ${outbound.concurrencyPerDomain}`,
  ];
  return `${lines.join('\n')}\n`;
}
