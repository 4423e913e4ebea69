// `facteur check-config`: validate the config (and the users file), warn about doubtful settings, print the effective settings.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Config, ListenAddress } from '../config/config.js';
import { ConfigError, formatProblem, type ConfigProblem } from '../config/config-error.js';
import { DEFAULTS_NAME, loadConfig, resolveConfigPath } from '../config/load-config.js';
import { isLoopbackIp } from '../net/loopback.js';
import { formatDuration, formatSize } from '../config/units.js';
import { Mailboxes } from '../inbound/mailboxes.js';
import { inspectCertificate } from '../tls/tls-context.js';
import { loadPasswords, PasswordsFileError } from '../submission/passwords-file.js';
import { processOutput, type CommandOutput } from './output.js';
import { loadDkimKeysForCommand } from './dkim-commands.js';
import { routingProblems } from './routing-problems.js';
import { workerCount } from '../workers/worker-count.js';

/** Exit code 0 (valid; warnings on stderr) or 2 (problems on stderr, one "FILE: key: problem" per line). */
export async function runCheckConfig(cliPath: string | undefined, output: CommandOutput = processOutput): Promise<number> {
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
  if (config.inbound.enabled || config.submission.enabled) {
    try {
      mailboxes = await Mailboxes.load(config.inbound);
    } catch (err) {
      output.err(`${formatProblem({ file: shown, key: 'inbound.users_file', problem: (err as Error).message })}\n`);
      return 2;
    }
  }
  // Aliases (README, Addresses): their syntax, and where each one leads.
  if (config.inbound.enabled && mailboxes !== null) {
    const problems = await routingProblems(config, mailboxes);
    for (const p of problems) output.err(`${formatProblem({ file: shown, ...p })}\n`);
    if (problems.length > 0) return 2;
  }
  if (config.tls.cert !== null && config.tls.key !== null) {
    const { error, warnings: doubts } = await inspectCertificate(config.tls.cert, config.tls.key, config.hostname);
    if (error !== null) {
      output.err(`${formatProblem({ file: shown, key: 'tls.cert', problem: error })}\n`);
      return 2;
    }
    for (const d of doubts) output.err(`${formatProblem({ file: shown, key: 'tls.cert', problem: `warning: ${d}` })}\n`);
  }
  // Every domain listed for signing needs a key that can be read (INTERFACE.md): mail from it would go out unsigned.
  if ((await loadDkimKeysForCommand(config, (text) => output.err(text), shown)) === null) return 2;
  const found = warnings(config, mailboxes, shown);
  if (config.submission.enabled) {
    try {
      found.push(...(await passwordWarnings(config, mailboxes, shown)));
    } catch (err) {
      if (!(err instanceof PasswordsFileError)) throw err;
      output.err(`${formatProblem({ file: shown, key: 'submission.passwords_file', problem: err.message })}\n`);
      return 2;
    }
  }
  for (const w of found) output.err(`${formatProblem(w)}\n`);
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
  // RFC 7672 §2.1: the AD bit is worth something only from a validating resolver over a path nobody can touch.
  const remote = config.outbound.dnsServers.filter((s) => !isLoopbackIp(s.replace(/^\[(.*)\]:\d+$/, '$1').replace(/^([\d.]+):\d+$/, '$1')));
  if (config.outbound.enabled && config.outbound.dane && (config.outbound.dnsServers.length === 0 || remote.length > 0)) {
    const which = remote.length > 0 ? remote.join(', ') : 'the system resolver';
    warn('outbound.dane', `DANE trusts the AD bit from ${which}: use a validating resolver on this host (e.g. "127.0.0.1:53" running unbound), or anyone on the path can switch DANE off`);
  }
  return found;
}

/** The passwords file as the server would read it: its problems throw PasswordsFileError; doubtful entries are warnings. */
async function passwordWarnings(config: Config, mailboxes: Mailboxes | null, file: string): Promise<ConfigProblem[]> {
  const { passwords, exists, warning } = await loadPasswords(config.submission.passwordsFile);
  const problem = (text: string): ConfigProblem => ({ file, key: 'submission.passwords_file', problem: `warning: ${text}` });
  // No file yet is how every installation starts (`facteur passwd` creates it): the settings say so, not a warning.
  const found = warning === null || !exists ? [] : [problem(warning)];
  for (const { address } of passwords.values()) {
    const at = address.lastIndexOf('@');
    if (mailboxes?.lookup({ local: address.slice(0, at), domain: address.slice(at + 1) }) == null) {
      found.push(problem(`${address} has a password but is not an address of any mailbox: it cannot log in`));
    }
  }
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
  const { inbound, outbound, submission, timeouts } = config;

  const lines = [
    `# Effective settings of ${config.file ?? 'the built-in defaults'}${config.file === null ? '' : ' (built-in defaults for the keys it leaves out)'}.`,
    `hostname = ${str(config.hostname)}`,
    `data_dir = ${str(config.dataDir)}`,
    `workers = ${config.workers === 'auto' ? `"auto"  # ${workerCount(config.workers)} here (one per CPU)` : config.workers}`,
    `dns_servers = ${list(config.dnsServers)}${config.dnsServers.length === 0 ? '  # the nameservers of /etc/resolv.conf' : ''}`,
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
    '[metrics]',
    optional('listen', config.metrics.listen?.text ?? null, 'no metrics endpoint'),
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
    `verify = ${inbound.verify}`,
    `dmarc_policy = ${str(inbound.dmarcPolicy)}`,
    `dnsbl = ${list(inbound.dnsbl.map((z) => (z.codes === null ? z.zone : `${z.zone}=${z.codes.join(',')}`)))}`,
    `dnsbl_timeout = ${duration(inbound.dnsblTimeout)}`,
    `greylisting = ${inbound.greylist.enabled}`,
    `greylist_delay = ${duration(inbound.greylist.delay)}`,
    `greylist_expire = ${duration(inbound.greylist.expire)}`,
    `greylist_lifetime = ${duration(inbound.greylist.lifetime)}`,
    `greylist_auto_whitelist = ${inbound.greylist.autoWhitelist}`,
    `recipient_delimiter = ${str(inbound.recipientDelimiter)}${inbound.recipientDelimiter === '' ? '  # no subaddressing' : ''}`,
    `deliver_to_subfolder = ${inbound.deliverToSubfolder}`,
    inbound.srsDomain === null ? '# srs_domain: not set, and no local domain' : `srs_domain = ${str(inbound.srsDomain)}`,
    `srs_secret_file = ${str(inbound.srsSecretFile)}`,
    `srs_max_age = ${duration(inbound.srsMaxAge)}`,
    ...storeSettings(inbound.store, { str, size, duration, optional }),
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
    ...(Object.keys(inbound.store.quotas).length === 0 ? [] : ['', '[inbound.quotas]', ...Object.entries(inbound.store.quotas).map(([name, q]) => `${key(name)} = ${size(q)}`)]),
    '',
    '[inbound.aliases]',
    ...Object.entries(inbound.aliases).map(([alias, targets]) => `${key(alias)} = ${list(targets)}`),
    '',
    '[outbound]',
    `enabled = ${outbound.enabled}`,
    `listen = ${addresses(outbound.listen)}`,
    `queue_dir = ${str(outbound.queueDir)}`,
    `smtp_port = ${outbound.smtpPort}`,
    `dns_servers = ${list(outbound.dnsServers)}${outbound.dnsServers.length === 0 ? '  # the system resolver' : ''}`,
    `tls = ${str(outbound.tls)}`,
    optional('ca_file', outbound.caFile, 'the system CAs only'),
    `mta_sts = ${outbound.mtaSts}`,
    `dane = ${outbound.dane}${outbound.dane ? '  # trusts the AD bit of dns_servers' : ''}`,
    `address_preference = ${str(outbound.addressPreference)}`,
    optional('source_ipv4', outbound.sourceIpv4, "the system's choice"),
    optional('source_ipv6', outbound.sourceIpv6, "the system's choice"),
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
    '',
    '[submission]',
    `enabled = ${submission.enabled}`,
    `listen = ${addresses(submission.listen)}`,
    `listen_tls = ${addresses(submission.listenTls)}`,
    `passwords_file = ${str(submission.passwordsFile)}${existsSync(submission.passwordsFile) ? '' : '  # no such file yet: `facteur passwd ADDRESS` makes it'}`,
    `max_auth_failures = ${submission.maxAuthFailures}`,
    `auth_failure_window = ${duration(submission.authFailureWindow)}`,
    `auth_ban = ${duration(submission.authBan)}`,
    `max_messages_per_hour = ${submission.maxMessagesPerHour}`,
    `received_shows_user = ${submission.receivedShowsUser}`,
    `max_connections = ${submission.maxConnections}`,
    '',
    '[dkim]',
    `domains = ${list(config.dkim.domains)}`,
    `selector = ${str(config.dkim.selector)}`,
    `# keys: ${join(config.dkim.keyDir, '<domain>', '<selector>.key')}`,
  ];
  return `${lines.join('\n')}\n`;
}

/** The local store's keys of [inbound] (delivery, LMTP, quotas, the Maildirs' group). */
function storeSettings(
  store: Config['inbound']['store'],
  f: { str: (s: string) => string; size: (n: number) => string; duration: (ms: number) => string; optional: (name: string, value: string | null, otherwise: string) => string },
): string[] {
  return [
    `delivery = ${f.str(store.delivery)}`,
    f.optional('lmtp', store.lmtp?.text ?? null, 'no LMTP server'),
    `lmtp_recipient = ${f.str(store.lmtpRecipient)}`,
    `lmtp_timeout = ${f.duration(store.lmtpTimeout)}`,
    store.quota === 0 ? 'quota = 0  # none' : `quota = ${f.size(store.quota)}`,
    f.optional('maildir_group', store.maildirGroup, 'Maildirs private to facteur (0700/0600)'),
    `maildir_group_write = ${store.maildirGroupWrite}`,
  ];
}
