// What every scenario gets: the options, a work folder, the shared certificate, and facteur servers it can start.
import { mkdir, rm } from 'node:fs/promises';
import { isAbsolute, join, relative } from 'node:path';
import { FacteurProcess, freePort, type FacteurSetup } from './facteur-process.js';
import type { BenchOptions } from './options.js';
import type { ScenarioResult } from './result.js';
import { summariseProfileDir, type ProfileSummary } from './profile-summary.js';

/** Connections a bench server accepts: above the 10,000 idle ones plus the probes. */
const MAX_CONNECTIONS = 10_500;

export class BenchContext {
  private readonly live = new Set<FacteurProcess>();
  private serial = 0;
  /** A server kept running across the measures that share its key (the inbound cells), as Postfix runs across them. */
  private shared: { readonly key: string; readonly server: FacteurProcess } | null = null;

  constructor(
    readonly options: BenchOptions,
    /** Temporary folder of this run (configs, Maildirs, queues, logs). */
    readonly workDir: string,
    readonly resultsDir: string,
    readonly repoRoot: string,
    readonly tls: { readonly cert: string; readonly key: string },
    /** Progress lines, on stderr. */
    readonly progress: (line: string) => void,
  ) {}

  /** A deadline (Date.now() scale) for one scenario. */
  deadline(): number {
    return Date.now() + this.options.timeoutSeconds * 1000;
  }

  /** Starts a fresh facteur (its own folder and ports) with the bench defaults, overridden by `setup`. */
  async startFacteur(name: string, setup: Partial<FacteurSetup> = {}): Promise<FacteurProcess> {
    await this.closeShared(); // one server at a time: each measure has the machine to itself
    const dir = setup.dir ?? join(this.workDir, `${String(++this.serial).padStart(2, '0')}-${name}`);
    const cpuProfileDir = this.options.cpuProfile ? join(this.resultsDir, 'profiles', `${this.stamp}-${name}`) : null;
    if (cpuProfileDir !== null) await mkdir(cpuProfileDir, { recursive: true });
    const full: FacteurSetup = {
      dir,
      inbound: true,
      outbound: false,
      inboundPort: await freePort(),
      outboundPort: await freePort(),
      maxConnections: MAX_CONNECTIONS,
      maxMessageSize: 200 * 1024 * 1024,
      smtpPort: 25,
      dnsServers: [],
      logLevel: this.options.logLevel,
      tls: this.tls,
      openFiles: MAX_CONNECTIONS * 2 + 1024,
      cpuProfileDir,
      workers: this.options.workers,
      retryMin: '1h',
      submission: null,
      inboundExtra: '',
      verify: false,
      dkim: null,
      ...setup,
    };
    const server = await FacteurProcess.start(full);
    this.live.add(server);
    return server;
  }

  /** Stops a server gracefully; returns its CPU profile's summary when profiling. */
  async stopFacteur(server: FacteurProcess): Promise<ProfileSummary | null> {
    const { code, signal } = await server.stop();
    this.live.delete(server);
    if (code !== 0) this.progress(`  facteur (pid ${server.pid}) exited with ${code ?? signal}:\n${server.lastOutput}`);
    const dir = server.setup.cpuProfileDir;
    return dir === null ? null : summariseProfileDir(dir, this.repoRoot);
  }

  /**
   * A warm server for a series of measures: started (and `prepare`d, a warm-up) on the first call with `key`, then
   * reused, so later measures see a server that has run for a while, like a long-running Postfix. With --cpu-prof
   * every measure gets a fresh server instead, so that each profile covers one scenario. `release` stops a fresh
   * server and returns its profile; it leaves a shared one running (closeShared stops it).
   */
  async facteurFor(key: string, prepare: (s: FacteurProcess) => Promise<void>): Promise<{ server: FacteurProcess; release: () => Promise<ProfileSummary | null> }> {
    if (this.options.cpuProfile) {
      const server = await this.startFacteur(key);
      await prepare(server);
      return {
        server,
        release: async () => {
          const profile = await this.stopFacteur(server);
          await this.discard(server);
          return profile;
        },
      };
    }
    if (this.shared === null || this.shared.key !== key || !this.shared.server.running) {
      const server = await this.startFacteur(key);
      this.shared = { key, server };
      await prepare(server);
    }
    return { server: this.shared.server, release: async () => null };
  }

  /** Stops the shared server, if any. */
  async closeShared(): Promise<void> {
    const shared = this.shared;
    if (shared === null) return;
    this.shared = null;
    await this.stopFacteur(shared.server);
    await this.discard(shared.server);
  }

  /** Runs a measure on a server, then stops it (attaching its CPU profile) and removes its folder, even on failure. */
  async measureOn(server: FacteurProcess, measure: () => Promise<Omit<ScenarioResult, 'profile'>>): Promise<ScenarioResult> {
    let result: Omit<ScenarioResult, 'profile'>;
    try {
      result = await measure();
    } catch (err) {
      await this.stopFacteur(server);
      await this.discard(server);
      throw err;
    }
    const profile = await this.stopFacteur(server);
    await this.discard(server);
    return { ...result, profile };
  }

  /**
   * Done with a server's folder (Maildir, queue). A folder inside the run's work folder stays until the run ends,
   * when the work folder goes: removing thousands of files between two measures taxes the next one, since on ext4
   * without a journal (this project's benchmark machine) each file creation then skips, one by one, the inodes
   * freed in the last minutes (`recently_deleted`, 150–300 µs of CPU per file instead of 6–8), so a measure that
   * ran second (the "on" of an on/off pair) paid for the first one's clean-up. Other folders go at once.
   */
  async discard(server: FacteurProcess): Promise<void> {
    if (this.options.keep) return;
    const inside = relative(this.workDir, server.setup.dir);
    if (inside !== '' && !inside.startsWith('..') && !isAbsolute(inside)) return;
    await rm(server.setup.dir, { recursive: true, force: true });
  }

  /** Emergency stop of whatever still runs (Ctrl-C, a crash of the bench). */
  killAll(): void {
    for (const s of this.live) s.kill();
    this.live.clear();
  }

  /** Names profile folders of this run. */
  readonly stamp = new Date().toISOString().replace(/[:.]/g, '-');
}
