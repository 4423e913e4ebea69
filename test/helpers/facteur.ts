// Starts facteur for a test: a fresh temp dir with a TOML config on port 0, run in-process or as a real `facteur start`.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { parse, stringify, type TomlTable } from 'smol-toml';
import { startApp, type AppDeps, type RunningApp, type ServerName } from '../../src/app.js';
import type { Config } from '../../src/config/config.js';
import { loadConfig } from '../../src/config/load-config.js';
import { createLogger, silentLogger, type Logger } from '../../src/observability/logger.js';
import { SmtpDialog, type ConnectOptions } from './smtp-dialog.js';

export type ListenerKind = 'plain' | 'tls' | 'outbound' | 'submission' | 'submission-tls';

export interface FacteurOptions {
  /** mailbox → addresses ([inbound.users]); default alice = [alice@example.org], postmaster = [postmaster@example.org]. */
  readonly users?: Record<string, string[]>;
  /** Local domains; default ["example.org"]. */
  readonly domains?: string[];
  /** Extra TOML merged over the generated config (tables are merged key by key, other values replaced). */
  readonly toml?: string;
  /** Also listen on [::1]:0 (inbound plain and TLS); default false. */
  readonly ipv6?: boolean;
  /** Enable the outbound relay on 127.0.0.1:0; default false. */
  readonly outbound?: boolean;
  /** startFacteur only: what startApp gets besides the config (a clock, say). */
  readonly deps?: AppDeps;
  /** startFacteur only: keep the log (info level) in memory for logs() and waitForLog(); default false (silent). */
  readonly captureLog?: boolean;
  /** startFacteur only: the server's clock (AppDeps.now); default the real one. */
  readonly now?: () => Date;
  /** startFacteur only: run on this prepared folder (a restart over the same data) instead of a fresh one; stop() leaves it. */
  readonly prepared?: PreparedFacteur;
}

export interface PreparedFacteur {
  /** The temp dir holding the config file and the data. */
  readonly dir: string;
  readonly configPath: string;
  readonly dataDir: string;
  /** <dataDir>/mail */
  readonly maildirRoot: string;
  /** Removes the temp dir. */
  cleanup(): Promise<void>;
}

export interface Facteur {
  readonly app: RunningApp;
  readonly config: Config;
  readonly dataDir: string;
  /** The Maildir root, config.inbound.maildirRoot. */
  readonly maildirRoot: string;
  /** The port bound for a kind of listener, on host (default 127.0.0.1; "::1" for the IPv6 one). */
  port(kind: ListenerKind, host?: string): number;
  /** A raw SMTP dialog to a listener (implicit TLS for 'tls'), closed by stop() if still open. */
  connect(kind?: ListenerKind, opts?: ConnectOptions): Promise<SmtpDialog>;
  /** Closes the dialogs opened with connect(), stops the app and removes the temp dir; safe to call twice. */
  stop(): Promise<void>;
  /** Every log line so far (parsed pino JSON); only with `captureLog: true`. */
  logs(): readonly Record<string, unknown>[];
  /**
   * Resolves with the first log line that satisfies the predicate (only with `captureLog: true`), looking from
   * line `from` of logs() on (default: from now on, so a line logged before the call is not seen); rejects after
   * timeoutMs (default 10 s). Take `from = logs().length` before an action to miss nothing it logs.
   */
  waitForLog(predicate: (entry: Record<string, unknown>) => boolean, timeoutMs?: number, from?: number): Promise<Record<string, unknown>>;
}

/** Writes a config into a fresh temp dir: hostname "mx.test", every listener on port 0, data under <dir>/data. */
export async function prepareFacteur(opts: FacteurOptions = {}): Promise<PreparedFacteur> {
  const dir = await mkdtemp(join(tmpdir(), 'facteur-test-'));
  const listen = ['127.0.0.1:0', ...(opts.ipv6 ? ['[::1]:0'] : [])];
  const base: TomlTable = {
    hostname: 'mx.test',
    data_dir: 'data',
    // One process: each worker would cost a start-up; the tests of workers set `workers` themselves.
    workers: 1,
    log: { level: 'info' },
    inbound: {
      enabled: true,
      listen,
      listen_tls: listen,
      domains: opts.domains ?? ['example.org'],
      maildir_root: 'mail',
      users: opts.users ?? { alice: ['alice@example.org'], postmaster: ['postmaster@example.org'] },
    },
    outbound: { enabled: opts.outbound ?? false, listen: ['127.0.0.1:0'] },
  };
  const merged = opts.toml === undefined ? base : merge(base, parse(opts.toml));
  const configPath = join(dir, 'facteur.toml');
  await writeFile(configPath, stringify(merged));
  const dataDir = join(dir, 'data');
  return { dir, configPath, dataDir, maildirRoot: join(dataDir, 'mail'), cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * Starts facteur in this process with a silent logger (FACTEUR_TEST_LOG=debug shows its log on stderr).
 * Call stop() in after()/t.after().
 */
export async function startFacteur(opts: FacteurOptions = {}): Promise<Facteur> {
  const prepared = opts.prepared ?? (await prepareFacteur(opts));
  const cleanup = opts.prepared === undefined ? () => prepared.cleanup() : async () => undefined;
  let app: RunningApp;
  let config: Config;
  const captured = opts.captureLog === true ? capturingLogger() : null;
  try {
    config = await loadConfig(prepared.configPath);
    const level = process.env.FACTEUR_TEST_LOG;
    const logger =
      captured !== null ? captured.logger : level === 'debug' || level === 'info' ? createLogger({ level, file: null }) : silentLogger();
    app = await startApp(config, logger, { ...opts.deps, ...(opts.now === undefined ? {} : { now: opts.now }) });
  } catch (err) {
    await cleanup();
    throw err;
  }
  let stopped: Promise<void> | null = null;
  const dialogs: SmtpDialog[] = [];
  const port = (kind: ListenerKind, host = '127.0.0.1'): number => portOf(app.listeners(), kind, host);
  return {
    app,
    config,
    dataDir: config.dataDir,
    maildirRoot: config.inbound.maildirRoot,
    port,
    async connect(kind = 'plain', opts = {}) {
      const d = await SmtpDialog.connect(port(kind), '127.0.0.1', { tls: kind === 'tls' || kind === 'submission-tls', ...opts });
      dialogs.push(d);
      return d;
    },
    stop: () => {
      // Our own clients go first: a test's idle connection must not hold up the server's shutdown.
      for (const d of dialogs.splice(0)) d.close();
      return (stopped ??= app.stop().finally(cleanup));
    },
    logs: () => {
      if (captured === null) throw new Error('startFacteur({ captureLog: true }) is needed to read the log');
      return captured.lines;
    },
    waitForLog: (predicate, timeoutMs = 10_000, from) => {
      if (captured === null) return Promise.reject(new Error('startFacteur({ captureLog: true }) is needed to wait for a log line'));
      return captured.waitFor(predicate, timeoutMs, from ?? captured.lines.length);
    },
  };
}

/** A pino logger at info level whose lines stay in memory, parsed, with watchers called on each new line. */
function capturingLogger(): {
  logger: Logger;
  lines: Record<string, unknown>[];
  waitFor(predicate: (entry: Record<string, unknown>) => boolean, timeoutMs: number, from: number): Promise<Record<string, unknown>>;
} {
  const lines: Record<string, unknown>[] = [];
  const watchers = new Set<(entry: Record<string, unknown>) => void>();
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString('utf8').split('\n')) {
        if (text === '') continue;
        const entry = JSON.parse(text) as Record<string, unknown>;
        lines.push(entry);
        for (const w of [...watchers]) w(entry);
      }
      done();
    },
  });
  const waitFor = (predicate: (entry: Record<string, unknown>) => boolean, timeoutMs: number, from: number): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const past = lines.slice(from).find(predicate);
      if (past !== undefined) return resolve(past);
      const timer = setTimeout(() => {
        watchers.delete(watcher);
        const recent = lines.slice(-20).map((l) => JSON.stringify(l));
        reject(new Error(`timed out after ${timeoutMs} ms waiting for a log line; the last ones:\n${recent.join('\n')}`));
      }, timeoutMs);
      const watcher = (entry: Record<string, unknown>): void => {
        if (!predicate(entry)) return;
        clearTimeout(timer);
        watchers.delete(watcher);
        resolve(entry);
      };
      watchers.add(watcher);
    });
  return { logger: pino({ level: 'info' }, sink), lines, waitFor };
}

/** What a `facteur` command printed, and how it ended. */
export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `node <build>/src/cli/main.js ...args` to its end (killed after timeoutMs, default 15 s), with `input` as its stdin. */
export function runCli(args: readonly string[], timeoutMs = 15_000, input?: string): Promise<CliResult> {
  const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
  const child = spawn(process.execPath, [main, ...args], { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], timeout: timeoutMs, killSignal: 'SIGKILL' });
  if (input !== undefined) child.stdin!.end(input);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** What the "started" log line says about one listener. */
export interface LoggedListener {
  readonly server: ServerName;
  readonly host: string;
  readonly port: number;
  readonly implicitTls: boolean;
}

export interface SpawnedFacteur {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly listeners: readonly LoggedListener[];
  /** The "started" log line itself (with workers: their pids in worker_pids). */
  readonly started: Record<string, unknown>;
  port(kind: ListenerKind, host?: string): number;
  /** Resolves with the first log line (parsed pino JSON) from now on that satisfies the predicate. */
  waitForLog(predicate: (entry: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Every line it wrote on stderr so far (its log). */
  output(): readonly string[];
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILLs the process if still running and waits for its exit. */
  kill(): Promise<void>;
}

/**
 * Runs `node <build>/src/cli/main.js start -c configPath` and resolves once its "started" log line is read from
 * stderr (the config must log at info level to stderr, as prepareFacteur writes it). The listeners, port 0
 * resolved, are taken from that line.
 */
export async function spawnFacteur(configPath: string, timeoutMs = 15_000): Promise<SpawnedFacteur> {
  const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
  const child = spawn(process.execPath, [main, 'start', '-c', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => {
    child.once('exit', (code, signal) => res({ code, signal }));
    // A process that could not be spawned at all emits 'error' and never 'exit'.
    child.once('error', () => res({ code: null, signal: null }));
  });
  const watchers = new Set<(entry: Record<string, unknown>) => void>();
  const lines = createInterface({ input: child.stderr! });
  const output: string[] = [];
  lines.on('line', (line) => {
    output.push(line);
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return; // not a log line (a Node warning, say)
    }
    for (const w of [...watchers]) w(entry);
  });

  const waitForLog = (predicate: (entry: Record<string, unknown>) => boolean, ms = timeoutMs): Promise<Record<string, unknown>> =>
    new Promise((res, rej) => {
      const timer = setTimeout(() => fail(new Error(`timed out waiting for a log line; stderr so far:\n${output.join('\n')}`)), ms);
      const onExit = (): void => fail(new Error(`facteur exited while waiting for a log line; stderr:\n${output.join('\n')}`));
      const fail = (err: Error): void => {
        clearTimeout(timer);
        watchers.delete(watcher);
        child.off('exit', onExit);
        child.off('error', onExit);
        rej(err);
      };
      const watcher = (entry: Record<string, unknown>): void => {
        if (!predicate(entry)) return;
        clearTimeout(timer);
        watchers.delete(watcher);
        child.off('exit', onExit);
        child.off('error', onExit);
        res(entry);
      };
      watchers.add(watcher);
      child.once('exit', onExit);
      child.once('error', onExit);
    });

  const kill = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };

  let started: Record<string, unknown>;
  try {
    started = await waitForLog((e) => e.event === 'started');
  } catch (err) {
    await kill();
    throw err;
  }
  const listeners = ((started.listeners ?? []) as string[]).map(parseLoggedListener);
  return {
    child,
    pid: child.pid!,
    listeners,
    started,
    port: (kind, host = '127.0.0.1') => portOf(listeners, kind, host),
    waitForLog,
    output: () => output,
    exited,
    kill,
  };
}

/** "inbound 127.0.0.1:41234 tls" → its parts. */
export function parseLoggedListener(text: string): LoggedListener {
  const m = /^(inbound|outbound|submission) \[?([^\]]*?)\]?:(\d+)( tls)?$/.exec(text);
  if (m === null) throw new Error(`unexpected listener in the "started" log line: ${text}`);
  return { server: m[1] as ServerName, host: m[2]!, port: Number(m[3]), implicitTls: m[4] !== undefined };
}

function portOf(
  listeners: readonly { server: ServerName; host: string; port: number; implicitTls: boolean }[],
  kind: ListenerKind,
  host: string,
): number {
  const server = kind === 'outbound' ? 'outbound' : kind.startsWith('submission') ? 'submission' : 'inbound';
  const found = listeners.find((l) => l.server === server && l.implicitTls === (kind === 'tls' || kind === 'submission-tls') && l.host === host);
  if (found === undefined) throw new Error(`no ${kind} listener on ${host}: ${JSON.stringify(listeners)}`);
  return found.port;
}

/** The repository root: the nearest folder above this file holding package.json (works from .build/x/ and dist/). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = resolve(dir, '..');
    if (up === dir) throw new Error('package.json not found above the test helpers');
    dir = up;
  }
  return dir;
}

function merge(base: TomlTable, extra: TomlTable): TomlTable {
  const out: TomlTable = { ...base };
  for (const [key, value] of Object.entries(extra)) {
    const current = out[key];
    out[key] = isTable(current) && isTable(value) ? merge(current, value) : value;
  }
  return out;
}

const isTable = (v: unknown): v is TomlTable => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
