// loadConfig: defaults, path resolution, normalization, and one "FILE: key: problem" line per problem.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ConfigError } from '../../../src/config/config-error.js';
import { DEFAULT_CIPHERS } from '../../../src/tls/tls-profile.js';
import { loadConfig } from '../../../src/config/load-config.js';

let dir: string;
let count = 0;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'facteur-config-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const opts = { machineName: 'mx.test' };

async function write(toml: string): Promise<string> {
  const file = join(dir, `c${++count}.toml`);
  await writeFile(file, toml);
  return file;
}

/** The problem lines loading `toml` produces (fails the test if it loads). */
async function problems(toml: string): Promise<{ file: string; lines: string[] }> {
  const file = await write(toml);
  try {
    await loadConfig(file, opts);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.message, err.problems.map((p) => `${p.file}: ${p.key}: ${p.problem}`).join('\n'));
    return { file, lines: err.message.split('\n') };
  }
  assert.fail('expected a ConfigError');
}

/** Asserts exactly one problem, for `key`, whose text matches `text`. */
async function oneProblem(toml: string, key: string, text: RegExp): Promise<void> {
  const { file, lines } = await problems(toml);
  assert.equal(lines.length, 1, lines.join('\n'));
  const prefix = `${file}: ${key}: `;
  assert.ok(lines[0]!.startsWith(prefix), `${lines[0]} should start with ${prefix}`);
  assert.match(lines[0]!.slice(prefix.length), text);
}

const INBOUND = '[inbound]\ndomains = ["example.org"]\n';

test('built-in defaults (no file)', async () => {
  const c = await loadConfig(null, { cwd: '/srv/x', machineName: 'mx.test' });
  assert.equal(c.file, null);
  assert.equal(c.hostname, 'mx.test');
  assert.equal(c.dataDir, '/srv/x/data');
  assert.deepEqual(c.log, { level: 'info', file: null });
  assert.deepEqual(c.tls, { cert: null, key: null, ciphers: DEFAULT_CIPHERS, minVersion: 'TLSv1.2' });
  assert.deepEqual(c.timeouts, { command: 300_000, data: 600_000, connect: 300_000, shutdownGrace: 10_000 });
  assert.deepEqual(c.inbound, {
    enabled: true,
    listen: [{ host: '::', port: 25, text: '[::]:25' }],
    listenTls: [{ host: '::', port: 465, text: '[::]:465' }],
    domains: [],
    maildirRoot: '/srv/x/data/mail',
    usersFile: null,
    maxMessageSize: 25 * 1024 * 1024,
    maxRecipients: 100,
    maxConnections: 1000,
    maxIdleCommands: 100,
    maxSessionTime: 3_600_000,
    greetPause: 0,
    maxConnectionsPerClient: 20,
    maxConnectionRate: 60,
    maxMessageRate: 300,
    maxRecipientRate: 1000,
    limitsExempt: ['127.0.0.0/8', '::1'],
    dnsbl: [],
    dnsblTimeout: 2000,
    greylist: { enabled: false, delay: 300_000, expire: 86_400_000, lifetime: 35 * 86_400_000, autoWhitelist: 5 },
    rspamd: null,
    users: {},
    verify: false,
    dmarcPolicy: 'enforce',
    recipientDelimiter: '+',
    deliverToSubfolder: false,
    aliases: {},
    srsDomain: null,
    srsSecretFile: '/srv/x/data/srs-secret',
    srsMaxAge: 21 * 86_400_000,
    store: { delivery: 'maildir', lmtp: null, lmtpRecipient: 'mailbox', lmtpTimeout: 120_000, quota: 0, quotas: {}, maildirGroup: null, maildirGroupWrite: false },
  });
  assert.deepEqual(c.outbound, {
    enabled: true,
    listen: [
      { host: '127.0.0.1', port: 587, text: '127.0.0.1:587' },
      { host: '::1', port: 587, text: '[::1]:587' },
    ],
    queueDir: '/srv/x/data/queue',
    smtpPort: 25,
    dnsServers: [],
    tls: 'opportunistic',
    caFile: null,
    mtaSts: true,
    dane: false,
    addressPreference: 'ipv6',
    sourceIpv4: null,
    sourceIpv6: null,
    retryMin: 300_000,
    retryMax: 3_600_000,
    queueLifetime: 5 * 86_400_000,
    maxMessageSize: 25 * 1024 * 1024,
    maxRecipients: 100,
    maxConnections: 100,
    maxIdleCommands: 100,
    maxSessionTime: 3_600_000,
    concurrency: 20,
    concurrencyPerDomain: 4,
  });
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.inbound.listen[0]) && Object.isFrozen(c.inbound.users));
});

test('an empty file gives the defaults, with paths relative to its folder', async () => {
  const file = await write('');
  const c = await loadConfig(file, opts);
  assert.equal(c.file, file);
  assert.equal(c.dataDir, join(dir, 'data'));
});

test('the default hostname must be a valid domain name', async () => {
  await assert.rejects(loadConfig(null, { machineName: 'my_box' }), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.problems.length, 1);
    assert.deepEqual(err.problems[0]!.key, 'hostname');
    assert.match(err.message, /^\(defaults\): hostname: not set, and the machine's name "my_box" is not a valid domain name/);
    return true;
  });
});

test('paths: relative to the config folder; maildir_root and queue_dir relative to data_dir', async () => {
  const sub = join(dir, 'etc', 'facteur');
  await mkdir(sub, { recursive: true });
  const file = join(sub, 'facteur.toml');
  await writeFile(
    file,
    [
      'data_dir = "../../var"',
      '[log]',
      'file = "log/facteur.log"',
      '[tls]',
      'cert = "cert.pem"',
      'key = "/abs/key.pem"',
      '[inbound]',
      'maildir_root = "boxes"',
      'users_file = "users"',
      '[outbound]',
      'queue_dir = "/abs/queue"',
    ].join('\n'),
  );
  const c = await loadConfig(file, opts);
  assert.equal(c.dataDir, join(dir, 'var'));
  assert.equal(c.log.file, join(sub, 'log', 'facteur.log'));
  assert.equal(c.tls.cert, join(sub, 'cert.pem'));
  assert.equal(c.tls.key, '/abs/key.pem');
  assert.equal(c.inbound.maildirRoot, join(dir, 'var', 'boxes'));
  assert.equal(c.inbound.usersFile, join(sub, 'users'));
  assert.equal(c.outbound.queueDir, '/abs/queue');
});

test('values are converted and normalized', async () => {
  const file = await write(
    [
      'hostname = "MX.Example.org"',
      '[timeouts]',
      'command = "6m"',
      'shutdown_grace = "250ms"',
      '[inbound]',
      'listen = ["127.0.0.1:2525", "[::1]:0"]',
      'listen_tls = []',
      'domains = ["Example.ORG", "example.net", "example.org"]',
      'max_message_size = 1000',
      '[inbound.users]',
      'alice = ["Alice@EXAMPLE.org", "a.smith@example.net"]',
      'postmaster = []',
      '[outbound]',
      'listen = ["127.0.0.2:2587", "[0:0:0:0:0:0:0:1]:2587"]',
      'dns_servers = ["127.0.0.1:5353", "::1", "[::1]:53", "192.0.2.1"]',
      'tls = "required"',
      'retry_min = "1h"',
      'retry_max = "1h"',
      'max_message_size = "512KB"',
    ].join('\n'),
  );
  const c = await loadConfig(file, opts);
  assert.equal(c.hostname, 'MX.Example.org');
  assert.equal(c.timeouts.command, 360_000);
  assert.equal(c.timeouts.shutdownGrace, 250);
  assert.deepEqual(c.inbound.listen, [
    { host: '127.0.0.1', port: 2525, text: '127.0.0.1:2525' },
    { host: '::1', port: 0, text: '[::1]:0' },
  ]);
  assert.deepEqual(c.inbound.listenTls, []);
  assert.deepEqual(c.inbound.domains, ['example.org', 'example.net']);
  assert.equal(c.inbound.maxMessageSize, 1000);
  assert.deepEqual(c.inbound.users, { alice: ['Alice@example.org', 'a.smith@example.net'], postmaster: [] });
  assert.deepEqual(
    c.outbound.listen.map((a) => a.host),
    ['127.0.0.2', '0:0:0:0:0:0:0:1'],
  );
  assert.deepEqual(c.outbound.dnsServers, ['127.0.0.1:5353', '::1', '[::1]:53', '192.0.2.1']);
  assert.equal(c.outbound.tls, 'required');
  assert.equal(c.outbound.maxMessageSize, 512 * 1024);
});

test('unknown keys are errors, with a hint for near misses', async () => {
  await oneProblem('hostnme = "mx.test"', 'hostnme', /^unknown key \(did you mean hostname\?\)$/);
  await oneProblem('[inbound]\nmax_recipient = 5', 'inbound.max_recipient', /^unknown key \(did you mean max_recipients\?\)$/);
  await oneProblem('[inboud]\nenabled = true', 'inboud', /^unknown key \(did you mean inbound\?\)$/);
  await oneProblem('[log]\ncolour = "red"', 'log.colour', /^unknown key$/);
});

test('a bad duration names the key and the value', async () => {
  await oneProblem('[outbound]\nretry_min = "5"', 'outbound.retry_min', /^"5" has no unit/);
  await oneProblem('[timeouts]\ncommand = "soon"', 'timeouts.command', /"soon" is not a duration/);
  await oneProblem('[timeouts]\ndata = 600', 'timeouts.data', /expected a duration string such as "30s", found a number \(600\)/);
  await oneProblem('[timeouts]\ndata = "0s"', 'timeouts.data', /must be longer than zero/);
  // Node timers overflow past 2^31-1 ms and would fire at once.
  await oneProblem('[timeouts]\ncommand = "30d"', 'timeouts.command', /too long/);
});

test('a bad size or number names the key', async () => {
  await oneProblem('[inbound]\nmax_message_size = "25XB"', 'inbound.max_message_size', /"25XB" is not a size/);
  await oneProblem('[inbound]\nmax_message_size = 0', 'inbound.max_message_size', /more than zero/);
  await oneProblem('[inbound]\nmax_recipients = 0', 'inbound.max_recipients', /whole number from 1/);
  await oneProblem('[outbound]\nconcurrency = 2.5', 'outbound.concurrency', /whole number from 1/);
  await oneProblem('[outbound]\nsmtp_port = 70000', 'outbound.smtp_port', /whole number from 1 to 65535/);
});

test('bad listen addresses', async () => {
  await oneProblem('[inbound]\nlisten = ["localhost:25"]', 'inbound.listen', /"localhost" is not an IPv4 address/);
  await oneProblem('[inbound]\nlisten = ["::1:25"]', 'inbound.listen', /IPv6 address in brackets/);
  await oneProblem('[inbound]\nlisten = ["[::1]"]', 'inbound.listen', /expected HOST:PORT/);
  await oneProblem('[inbound]\nlisten = ["[127.0.0.1]:25"]', 'inbound.listen', /not an IPv6 address/);
  await oneProblem('[inbound]\nlisten_tls = ["127.0.0.1:65536"]', 'inbound.listen_tls', /port 65536 is not between 0 and 65535/);
  await oneProblem('[inbound]\nlisten = "[::]:25"', 'inbound.listen', /expected a list/);
  await oneProblem('[outbound]\ndns_servers = ["dns.example:53"]', 'outbound.dns_servers', /not an IPv4 address/);
});

test('the relay listens on loopback addresses only', async () => {
  for (const address of ['0.0.0.0:587', '[::]:587', '192.0.2.1:587', '[::ffff:10.0.0.1]:587', '[::2]:587']) {
    await oneProblem(`[outbound]\nlisten = ["${address}"]`, 'outbound.listen', /is not a loopback address/);
  }
});

test('mailbox names and addresses of [inbound.users]', async () => {
  // One wording with the users file's (the rules live in src/mail/local-users.ts).
  await oneProblem(`${INBOUND}[inbound.users]\n"../x" = ["a@example.org"]`, 'inbound.users."../x"', /^invalid mailbox name "\.\.\/x"/);
  await oneProblem(`${INBOUND}[inbound.users]\n".." = ["a@example.org"]`, 'inbound.users.".."', /^invalid mailbox name "\.\."/);
  await oneProblem(`${INBOUND}[inbound.users]\n"a b" = ["a@example.org"]`, 'inbound.users."a b"', /^invalid mailbox name "a b"/);
  await oneProblem(`${INBOUND}[inbound.users]\n${'m'.repeat(256)} = ["a@example.org"]`, `inbound.users.${'m'.repeat(256)}`, /^invalid mailbox name .*at most 255/);
  await oneProblem(`${INBOUND}[inbound.users]\nbob = ["bob@example.net"]`, 'inbound.users.bob', /^"bob@example.net": example.net is not a local domain/);
  await oneProblem(`${INBOUND}[inbound.users]\nbob = ["bob"]`, 'inbound.users.bob', /"bob" is not an address/);
  await oneProblem(`${INBOUND}[inbound.users]\nbob = ["b..b@example.org"]`, 'inbound.users.bob', /local part/);
  // The SMTP grammar's atext: a no-break space (a separator) is not a character of a local part.
  await oneProblem(`${INBOUND}[inbound.users]\nbob = ["b\u00a0b@example.org"]`, 'inbound.users.bob', /local part/);
  await oneProblem(`${INBOUND}[inbound.users]\nbob = ["bob@exa_mple.org"]`, 'inbound.users.bob', /domain/);
  await oneProblem(`${INBOUND}[inbound.users]\nbob = "bob@example.org"`, 'inbound.users.bob', /expected a list of addresses/);
  await oneProblem(`${INBOUND}[inbound.users]\na = ["x@example.org"]\nb = ["X@Example.org"]`, 'inbound.users.b', /^address X@Example.org is already delivered to mailbox "a" \(inbound.users.a\)$/);
  await oneProblem(`${INBOUND}[inbound.users]\nbob = ["b@example.org"]\nBob = ["c@example.org"]`, 'inbound.users.Bob', /only by case/);
});

test('local domains and hostname must be domain names', async () => {
  await oneProblem('[inbound]\ndomains = ["exa_mple.org"]', 'inbound.domains', /not a valid domain name/);
  await oneProblem('[inbound]\ndomains = ["192.0.2.1"]', 'inbound.domains', /numeric label/);
  await oneProblem('[inbound]\ndomains = ["example..org"]', 'inbound.domains', /empty label/);
  await oneProblem('hostname = "-mx.example.org"', 'hostname', /not a valid domain name/);
  await oneProblem('hostname = ""', 'hostname', /not a valid domain name/);
});

test('cross-key rules', async () => {
  await oneProblem('[tls]\ncert = "cert.pem"', 'tls.key', /tls.cert is set, so tls.key must be too/);
  await oneProblem('[tls]\nkey = "key.pem"', 'tls.cert', /tls.key is set, so tls.cert must be too/);
  await oneProblem('[outbound]\nretry_min = "2h"', 'outbound.retry_min', /must not be longer than outbound.retry_max/);
});

test('defences: blocklists, greylisting and rspamd', async () => {
  const file = await write(
    '[inbound]\ndnsbl = ["zen.spamhaus.org", "Bl.Example.NET.=127.0.0.2, 127.0.0.4"]\ndnsbl_timeout = "1s"\n' +
      'greylisting = true\ngreylist_delay = "0s"\ngreylist_expire = "4h"\ngreylist_auto_whitelist = 0\n' +
      '[inbound.rspamd]\nurl = "http://127.0.0.1:11333/"\nfail = "defer"\n',
  );
  const c = await loadConfig(file, opts);
  assert.deepEqual(c.inbound.dnsbl, [
    { zone: 'zen.spamhaus.org', codes: null },
    { zone: 'bl.example.net', codes: ['127.0.0.2', '127.0.0.4'] },
  ]);
  assert.equal(c.inbound.dnsblTimeout, 1000);
  assert.deepEqual(c.inbound.greylist, { enabled: true, delay: 0, expire: 4 * 3_600_000, lifetime: 35 * 86_400_000, autoWhitelist: 0 });
  assert.deepEqual(c.inbound.rspamd, { url: 'http://127.0.0.1:11333', timeout: 15_000, fail: 'defer', spamToJunk: true });
  assert.deepEqual((await loadConfig(await write('[inbound.rspamd]\n'), opts)).inbound.rspamd?.url, 'http://127.0.0.1:11333');

  await oneProblem('[inbound]\ndnsbl = ["bl..test"]', 'inbound.dnsbl', /not a valid domain name/);
  await oneProblem('[inbound]\ndnsbl = ["bl.test=10.0.0.2"]', 'inbound.dnsbl', /"10.0.0.2" is not an address in 127.0.0.0\/8/);
  await oneProblem('[inbound]\ngreylist_delay = "2d"', 'inbound.greylist_expire', /must be longer than inbound.greylist_delay/);
  await oneProblem('[inbound.rspamd]\nurl = "https://rspamd.example:11333"', 'inbound.rspamd.url', /only http:\/\//);
  await oneProblem('[inbound.rspamd]\nurl = "rspamd"', 'inbound.rspamd.url', /not a URL/);
  await oneProblem('[inbound.rspamd]\nfail = "reject"', 'inbound.rspamd.fail', /expected one of "accept", "defer"/);
  await oneProblem('[inbound.rspamd]\ntimeuot = "5s"', 'inbound.rspamd.timeuot', /unknown key \(did you mean timeout\?\)/);
});

test('wrong types name what was expected', async () => {
  await oneProblem('inbound = 5', 'inbound', /expected a table, found a number \(5\)/);
  await oneProblem('[inbound]\nenabled = "yes"', 'inbound.enabled', /expected true or false/);
  await oneProblem('[log]\nlevel = "verbose"', 'log.level', /expected one of "error", "warn", "info", "debug"/);
  await oneProblem('hostname = 1979-05-27', 'hostname', /found a date/);
});

test('a TOML syntax error gives its line and column', async () => {
  await oneProblem('hostname = "mx.test"\n[inbound\nenabled = true', 'line 2, column 9', /^TOML syntax error: /);
  await oneProblem('a = 1\na = 2', 'line 2, column 1', /^TOML syntax error: /);
});

test('an unreadable file', async () => {
  const file = join(dir, 'missing.toml');
  await assert.rejects(loadConfig(file, opts), { message: `${file}: (file): cannot read the config file: no such file` });
  await assert.rejects(loadConfig(dir, opts), { message: `${dir}: (file): cannot read the config file: is a folder` });
});

test('every problem is reported, not just the first', async () => {
  const { lines } = await problems(
    [
      'hostnme = "x"',
      '[inbound]',
      'listen = ["localhost:25", "[::]:25"]',
      'domains = ["example.org", "bad_domain"]',
      'max_message_size = "big"',
      'max_recipient = 5',
      '[inbound.users]',
      '"a/b" = ["a@example.org"]',
      'bob = ["bob@other.org"]',
      '[outbound]',
      'listen = ["0.0.0.0:587"]',
      'retry_min = "2h"',
      '[tls]',
      'cert = "c.pem"',
    ].join('\n'),
  );
  const keys = lines.map((l) => l.split(': ')[1]).sort();
  assert.deepEqual(keys, [
    'hostnme',
    'inbound.domains',
    'inbound.listen',
    'inbound.max_message_size',
    'inbound.max_recipient',
    'inbound.users."a/b"',
    'outbound.listen',
    'outbound.retry_min',
    'tls.key',
  ]);
});
