// Runs the real `facteur start` CLI in a child process on loopback, with a config in a temp folder made for the run.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateDkimKey, KeyExistsError, type KeyAlgorithm } from '../src/mailauth/dkim-keygen.js';
import { openFilesLimit } from './proc-stats.js';

/** The compiled CLI, found next to the compiled bench (dist/bench/ → dist/src/cli/main.js). */
export const CLI_PATH = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

export const BENCH_DOMAIN = 'bench.test';
export const BENCH_MAILBOX = 'u';
export const BENCH_HOSTNAME = 'mx.bench.test';

export interface FacteurSetup {
  /** Folder of this server's config, data and log; it survives stop() so a restart can reuse it. */
  readonly dir: string;
  readonly inbound: boolean;
  readonly outbound: boolean;
  readonly inboundPort: number;
  readonly outboundPort: number;
  /** The per-server connection cap: above the largest idle scenario. */
  readonly maxConnections: number;
  readonly maxMessageSize: number;
  /** Port of the remote MX (the sink) and the DNS server that names it. */
  readonly smtpPort: number;
  readonly dnsServers: readonly string[];
  readonly logLevel: 'error' | 'warn' | 'info' | 'debug';
  /** PEM files shared by every server of the run, so none spends its start making a certificate. */
  readonly tls: { readonly cert: string; readonly key: string };
  /** Open files the server needs; raised with prlimit(1) when above our own hard limit. */
  readonly openFiles: number;
  /** Write a V8 CPU profile (node --cpu-prof) into this folder when the server exits. */
  readonly cpuProfileDir: string | null;
  /** The `workers` key. */
  readonly workers: number | 'auto';
  /** Outbound retry_min: long, so a refused delivery waits instead of looping during a measure. */
  readonly retryMin: string;
  /** Submission on implicit TLS (needs outbound), with this passwords file; null: off. */
  readonly submission: { readonly port: number; readonly passwordsFile: string } | null;
  /** More TOML lines for [inbound] (the defences scenarios turn the per-client limits and a DNSBL on); "" for none. */
  readonly inboundExtra: string;
  /** inbound.verify: SPF, DKIM, DMARC and ARC on every message (lookups through dnsServers). */
  readonly verify: boolean;
  /** Sign relayed mail of this domain with a key made (facteur dkim keygen's code) before the first start; null: no [dkim]. */
  readonly dkim: { readonly domain: string; readonly selector: string; readonly algorithm: KeyAlgorithm } | null;
}

/** The TOML the server reads: only keys of the README's Configuration table. */
export function configText(s: FacteurSetup): string {
  const list = (items: readonly string[]) => `[${items.map((i) => JSON.stringify(i)).join(', ')}]`;
  return `# facteur bench server (written by bench/facteur-process.ts)
hostname = "${BENCH_HOSTNAME}"
data_dir = "data"
workers = ${JSON.stringify(s.workers)}
dns_servers = ${list(s.dnsServers)}

[log]
level = "${s.logLevel}"
file = "facteur.log"

[tls]
cert = ${JSON.stringify(s.tls.cert)}
key = ${JSON.stringify(s.tls.key)}

[inbound]
enabled = ${s.inbound}
listen = ["127.0.0.1:${s.inboundPort}"]
listen_tls = []
domains = ["${BENCH_DOMAIN}"]
maildir_root = "mail"
max_message_size = ${s.maxMessageSize}
max_recipients = 100
max_connections = ${s.maxConnections}
verify = ${s.verify}
${s.inboundExtra}
[inbound.users]
${BENCH_MAILBOX} = ["${BENCH_MAILBOX}@${BENCH_DOMAIN}"]

[outbound]
enabled = ${s.outbound}
listen = ["127.0.0.1:${s.outboundPort}"]
queue_dir = "queue"
smtp_port = ${s.smtpPort}
dns_servers = ${list(s.dnsServers)}
tls = "opportunistic"
retry_min = "${s.retryMin}"
retry_max = "${s.retryMin}"
queue_lifetime = "5d"
max_message_size = ${s.maxMessageSize}
max_connections = ${s.maxConnections}
# as Postfix's default_destination_concurrency_limit, so the relay comparison is like for like
concurrency = 20
concurrency_per_domain = 20
${s.submission === null ? '' : submissionText(s.submission, s.maxConnections)}${s.dkim === null ? '' : `\n[dkim]\ndomains = ["${s.dkim.domain}"]\n`}`;
}

/** [submission] on implicit TLS only; no hourly limit that a measure could reach. */
function submissionText(sub: NonNullable<FacteurSetup['submission']>, maxConnections: number): string {
  return `
[submission]
enabled = true
listen = []
listen_tls = ["127.0.0.1:${sub.port}"]
passwords_file = ${JSON.stringify(sub.passwordsFile)}
max_messages_per_hour = 100000000
max_connections = ${maxConnections}
`;
}

export class FacteurProcess {
  /** ms from spawn until every enabled listener answered 220. */
  readyMs = 0;
  private output = '';

  private constructor(
    readonly setup: FacteurSetup,
    private readonly child: ChildProcess,
    readonly exited: Promise<{ code: number | null; signal: string | null }>,
  ) {}

  get pid(): number {
    return this.child.pid ?? 0;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** <data_dir>/mail/u/new, where the inbound server's deliveries land. */
  get maildirNew(): string {
    return join(this.setup.dir, 'data', 'mail', BENCH_MAILBOX, 'new');
  }

  get queueDir(): string {
    return join(this.setup.dir, 'data', 'queue');
  }

  /** Writes the config (first start only) and starts the server; resolves once it greets on every listener. */
  static async start(setup: FacteurSetup, timeoutMs = 60_000): Promise<FacteurProcess> {
    await mkdir(setup.dir, { recursive: true });
    const configFile = join(setup.dir, 'facteur.toml');
    await writeFile(configFile, configText(setup));
    const { dkim } = setup;
    if (dkim !== null) {
      // `start` insists on a key for every listed domain; a restart on the same folder keeps the first one.
      await generateDkimKey(join(setup.dir, 'data', 'dkim'), dkim.domain, dkim.selector, dkim.algorithm).catch((err: unknown) => {
        if (!(err instanceof KeyExistsError)) throw err;
      });
    }
    // BENCH_SERVER_NODE_ARGS: more options for the server's node (--trace-gc, --perf-basic-prof...), space-separated.
    const extra = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
    const nodeArgs = [...extra, ...(setup.cpuProfileDir === null ? [] : ['--cpu-prof', `--cpu-prof-dir=${setup.cpuProfileDir}`])];
    const argv = [process.execPath, ...nodeArgs, CLI_PATH, 'start', '-c', configFile];
    const command = withOpenFiles(argv, setup.openFiles);
    const t0 = performance.now();
    // The same thread pool as bin/facteur.cjs gives the installed command (main.js is started directly here).
    const env = { ...process.env, UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE ?? '32' };
    const child = spawn(command[0]!, command.slice(1), { cwd: setup.dir, stdio: ['ignore', 'pipe', 'pipe'], env });
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.once('error', () => resolve({ code: null, signal: 'spawn error' }));
    });
    const server = new FacteurProcess(setup, child, exited);
    // BENCH_SERVER_OUTPUT=file: all the server's output in output.txt beside its config too (with --keep, to read
    // what --trace-gc and the like printed).
    const whole = process.env.BENCH_SERVER_OUTPUT === 'file' ? createWriteStream(join(setup.dir, 'output.txt')) : null;
    const keep = (chunk: Buffer) => {
      server.output = (server.output + chunk.toString('utf8')).slice(-16_384);
      whole?.write(chunk);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const ports = [...(setup.inbound ? [setup.inboundPort] : []), ...(setup.outbound ? [setup.outboundPort] : [])];
    try {
      const deadline = Date.now() + timeoutMs;
      for (const port of ports) await waitForGreeting(port, deadline, server);
      if (setup.submission !== null) await waitForGreeting(setup.submission.port, deadline, server, true);
    } catch (err) {
      await server.stop();
      throw err;
    }
    server.readyMs = performance.now() - t0;
    return server;
  }

  /** What the server printed on stdout/stderr (the end of it), for error messages. */
  get lastOutput(): string {
    return this.output.trim();
  }

  /** SIGTERM (graceful, which also writes the CPU profile), then SIGKILL if it has not exited within `graceMs`. */
  async stop(graceMs = 20_000): Promise<{ code: number | null; signal: string | null }> {
    if (this.running) this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    const result = await this.exited;
    clearTimeout(timer);
    return result;
  }

  /** Immediate SIGKILL: for cleanup when the bench itself is interrupted. */
  kill(): void {
    if (this.running) this.child.kill('SIGKILL');
  }
}

/** Prefixes prlimit(1) when the server needs more open files than we may give it ourselves (ulimit -n is per process). */
function withOpenFiles(argv: string[], needed: number): string[] {
  const { hard } = openFilesLimit();
  // Node raises its own soft limit to the hard one at start, so the hard limit is what the server will get.
  if (needed <= hard) return argv;
  const probe = spawnSync('prlimit', [`--nofile=${needed}:${needed}`, 'true']);
  if (probe.status !== 0) return argv; // not root and no room: the scenario reports the refused connections
  return ['prlimit', `--nofile=${needed}:${needed}`, ...argv];
}

/** Polls the port until a 220 greeting arrives (the server is listening and serving), the deadline, or the exit. */
async function waitForGreeting(port: number, deadline: number, server: FacteurProcess, implicitTls = false): Promise<void> {
  for (;;) {
    if (!server.running) throw new Error(`facteur exited before listening on 127.0.0.1:${port}:\n${server.lastOutput}`);
    if (await greets(port, implicitTls)) return;
    if (Date.now() > deadline) throw new Error(`facteur did not greet on 127.0.0.1:${port} in time:\n${server.lastOutput}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function greets(port: number, implicitTls: boolean): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = implicitTls ? tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }) : connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2_000, () => done(false));
    socket.once('data', (chunk: Buffer) => {
      socket.end('QUIT\r\n');
      done(chunk.subarray(0, 4).toString('latin1') === '220 ' || chunk.subarray(0, 4).toString('latin1') === '220-');
    });
    socket.once('error', () => done(false));
  });
}

/** A TCP port free on 127.0.0.1 now (the server binds it a moment later; loopback ports are not contended here). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}
