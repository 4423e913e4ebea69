// `facteur start`: load the config, run the servers in the foreground, stop on SIGTERM/SIGINT, reload on SIGHUP.
// With `workers` > 1 this process is the primary: it holds the listeners and the queue, and forks the workers that
// serve the sessions (src/workers); the same command runs in each worker.
import cluster from 'node:cluster';
import { startApp, type AppDeps, type RunningApp, type SharedState } from '../app.js';
import type { Config } from '../config/config.js';
import { ConfigError } from '../config/config-error.js';
import { loadConfig } from '../config/load-config.js';
import { loadDkimKeysForCommand } from './dkim-commands.js';
import { EXIT_CONFIG, loadConfigForCommand } from './load-for-command.js';
import { errorText } from '../observability/error-text.js';
import { createLogger, reopenLog, type Logger } from '../observability/logger.js';
import { inheritedSockets } from '../systemd/inherited-sockets.js';
import { reloadingState, systemdNotifier, type Notify } from '../systemd/notify.js';
import type { PrimaryCall } from '../workers/messages.js';
import { runWorker } from '../workers/worker-main.js';
import { WorkerPool } from '../workers/worker-pool.js';
import { workerCount } from '../workers/worker-count.js';

const EXIT_OK = 0;
const EXIT_FAILURE = 1;

/** Errors of listen(2) that mean "this address cannot be used here"; the app's message names the address. */
const BIND_CODES = new Set(['EACCES', 'EADDRINUSE', 'EADDRNOTAVAIL', 'EAFNOSUPPORT']);

/** Margin past the sessions' grace period for closing files and the queue before we give up and exit 1. */
const STOP_MARGIN_MS = 5_000;

/** Runs until the servers are stopped; resolves with the exit code. */
export async function runStart(cliPath: string | undefined): Promise<number> {
  const config = await loadConfigForCommand(cliPath);
  if (config === null) return EXIT_CONFIG;
  // INTERFACE.md: start insists that every domain of dkim.domains has a key (keygen is how one is made).
  const dkimKeys = await loadDkimKeysForCommand(config);
  if (dkimKeys === null) return EXIT_CONFIG;

  let logger: Logger;
  try {
    // A worker writes into the same file (opened for appending: whole lines, never over one another).
    logger = createLogger(config.log);
    if (cluster.isWorker) logger = logger.child({ worker: Number(process.env.FACTEUR_WORKER) });
  } catch (err) {
    process.stderr.write(`facteur: cannot open the log file ${config.log.file}: ${(err as Error).message}\n`);
    return EXIT_FAILURE;
  }
  // A crash is logged before the process ends, so the log says why the server went away.
  process.on('uncaughtException', (err) => {
    logger.fatal({ event: 'crash', err }, 'uncaught exception: exiting');
    process.exit(EXIT_FAILURE);
  });

  if (cluster.isWorker) return runWorker({ config, logger, dkimKeys, readConfig: () => readConfigAgain(config.file, logger) });
  const notify = systemdNotifier(process.env, logger);
  // Signals are handled from now on: a SIGHUP or SIGTERM arriving while the servers start must not kill the process.
  // SIGHUP reads the file again; one that no longer parses or validates is refused and the old settings stay.
  const readConfig = (): Promise<Config | null> => readConfigAgain(config.file, logger);
  const workers = workerCount(config.workers);
  const pool = workers === 1 ? null : primaryPool(workers, config, logger);
  const control = controlBySignals(logger, config.timeouts.shutdownGrace + STOP_MARGIN_MS, notify, readConfig, pool);
  const deps = (inherited: AppDeps['inherited']): AppDeps => ({
    inherited,
    dkimKeys,
    ...(pool === null ? {} : { cluster: { role: 'primary', handOff: pool.pool.handOff, workerMetrics: () => pool.pool.metrics() } }),
  });
  const running = inheritedSockets(process.env).then((inherited) => startApp(config, logger, deps(inherited))).then(
    async (app) => {
      if (pool === null) {
        notify('READY=1'); // every listener is bound (or adopted) and accepting
        control.started(app);
        return control.done;
      }
      // The queue is loaded (its leftovers cleared) and the certificate made before any worker starts writing.
      pool.serve(app.shared());
      // From here a stop passes through the workers, even those still starting.
      control.started(withWorkers(app, pool.pool));
      try {
        await pool.pool.start();
      } catch (err) {
        await app.stop().catch(() => undefined);
        throw err;
      }
      if (pool.pool.stopping) return control.done;
      const listeners = app.listeners().map((l) => `${l.server} ${l.text}${l.implicitTls ? ' tls' : ''}`);
      logger.info({ event: 'started', hostname: config.hostname, workers, worker_pids: pool.pool.pids(), listeners, metrics: app.metricsAddress() }, `facteur started with ${workers} workers`);
      notify('READY=1'); // every listener is bound (or adopted) and accepting, and every worker serving
      return control.done;
    },
    (err: unknown) => {
      const code = (err as NodeJS.ErrnoException).code;
      const message = errorText(err);
      logger.error({ event: 'start-failed', err }, message);
      process.stderr.write(code !== undefined && BIND_CODES.has(code) ? `${message}\n` : `facteur: cannot start: ${message}\n`);
      return EXIT_FAILURE;
    },
  );
  // A second SIGTERM/SIGINT ends the wait even if the servers are still starting or stopping.
  const code = await Promise.race([control.done, running]);
  logger.flush(); // the last lines ("stopped") are still in the logger's buffer
  return code;
}

interface SignalControl {
  /** Resolves with the exit code once stopped (0), or on a second signal or a stop past its limit (1). */
  readonly done: Promise<number>;
  /** Hands over the running app; if a stop was asked for while it started, stops it now. */
  started(app: RunningApp): void;
}

/**
 * SIGTERM/SIGINT: stop gracefully (exit 0), or at once on a second signal or past `stopLimitMs` (exit 1). SIGHUP:
 * reload certificate and users; a failed reload is logged and the server keeps running with what it had.
 */
function controlBySignals(logger: Logger, stopLimitMs: number, notify: Notify, readConfig: () => Promise<Config | null>, workers: { pool: WorkerPool } | null): SignalControl {
  let app: RunningApp | null = null;
  let stopping = false;
  let finish: (code: number) => void = () => undefined;
  const done = new Promise<number>((resolve) => (finish = resolve));

  const stopApp = (running: RunningApp): void => {
    running.stop().then(
      () => finish(EXIT_OK),
      (err: unknown) => {
        logger.error({ event: 'stop-failed', err }, 'stopping failed');
        finish(EXIT_FAILURE);
      },
    );
  };
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ event: 'stop-forced', signal }, `${signal} again while stopping: exiting now`);
      workers?.pool.kill();
      finish(EXIT_FAILURE);
      return;
    }
    stopping = true;
    notify('STOPPING=1');
    logger.info({ event: 'stopping', signal }, `${signal}: stopping`);
    const timer = setTimeout(() => {
      logger.error({ event: 'stop-timeout' }, `still stopping after ${stopLimitMs} ms: exiting now`);
      workers?.pool.kill();
      finish(EXIT_FAILURE);
    }, stopLimitMs);
    void done.then(() => clearTimeout(timer));
    if (app !== null) stopApp(app);
    else workers?.pool.kill(); // still starting: workers forked so far go too
  };
  const reopen = (signal: NodeJS.Signals): void => {
    workers?.pool.reopenLog(); // SIGUSR1, and SIGHUP's reopening, passed on: each worker has the file open too
    try {
      reopenLog(logger);
      logger.info({ event: 'log-reopened', signal }, `${signal}: log file reopened`);
    } catch (err) {
      logger.error({ event: 'log-reopen-failed', err }, `could not reopen the log file: ${(err as Error).message}`);
    }
  };
  const reload = (): void => {
    reopen('SIGHUP');
    if (stopping) return;
    if (app === null) {
      logger.info({ event: 'reload-skipped', signal: 'SIGHUP' }, 'SIGHUP while starting: the settings being loaded are already fresh');
      return;
    }
    logger.info({ event: 'reloading', signal: 'SIGHUP' }, 'SIGHUP: reading the config file again');
    notify(reloadingState());
    const running = app;
    readConfig()
      .then((next) => (next === null ? undefined : running.reload(next)))
      .catch((err: unknown) => logger.error({ event: 'reload-failed', err }, `reload failed, keeping the previous settings: ${(err as Error).message}`))
      .finally(() => notify('READY=1'));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('SIGHUP', reload);
  process.on('SIGUSR1', reopen);

  return {
    done,
    started(running) {
      app = running;
      if (stopping) stopApp(running);
    },
  };
}

/** The config file read again (SIGHUP); null, logged, when it has problems: the old settings stay. */
async function readConfigAgain(file: string | null, logger: Logger): Promise<Config | null> {
  try {
    return await loadConfig(file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    logger.error({ event: 'reload-refused', problems: err.message.split('\n') }, `the config file has problems, keeping the previous settings:\n${err.message}`);
    return null;
  }
}

/** The primary's workers, and the state they ask about, kept here (set once the app has started). */
function primaryPool(count: number, config: Config, logger: Logger): { pool: WorkerPool; serve(shared: SharedState): void } {
  let shared: SharedState | null = null;
  const answer = (call: PrimaryCall): unknown => {
    if (call.method === 'client-limit') return shared?.clientLimits?.[call.what](call.ip) ?? null;
    return shared?.greylist?.check(call.session, call.reversePath, call.recipient) ?? null;
  };
  const pool = new WorkerPool({
    count,
    hostname: config.hostname,
    logger,
    answer,
    queued: (item) => shared?.relay?.take(item),
    workerEnded: () => {
      try {
        shared?.relay?.takeStrays();
      } catch (err) {
        logger.error({ event: 'queue-scan-failed', err }, `could not scan the queue folder for an ended worker's messages: ${errorText(err)}`);
      }
    },
  });
  return { pool, serve: (s) => (shared = s) };
}

/**
 * The app as the signals drive it with workers: a stop closes the listeners at once, lets the workers finish
 * their sessions (they get the grace period), and only then stops the queue they were handing messages to; a
 * reload applies here (limits, greylisting's and the queue's settings) and in every worker.
 */
function withWorkers(app: RunningApp, pool: WorkerPool): RunningApp {
  return {
    ...app,
    async stop() {
      await app.stopAccepting();
      await pool.stop();
      await app.stop();
    },
    async reload(next) {
      await app.reload(next);
      await pool.reload();
    },
  };
}
