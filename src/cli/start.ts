// `facteur start`: load the config, run the servers in the foreground, stop on SIGTERM/SIGINT, reload on SIGHUP.
import { startApp, type RunningApp } from '../app.js';
import type { Config } from '../config/config.js';
import { ConfigError } from '../config/config-error.js';
import { loadConfig } from '../config/load-config.js';
import { loadDkimKeysForCommand } from './dkim-commands.js';
import { EXIT_CONFIG, loadConfigForCommand } from './load-for-command.js';
import { errorText } from '../observability/error-text.js';
import { createLogger, reopenLog, type Logger } from '../observability/logger.js';
import { inheritedSockets } from '../systemd/inherited-sockets.js';
import { reloadingState, systemdNotifier, type Notify } from '../systemd/notify.js';

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
    logger = createLogger(config.log);
  } catch (err) {
    process.stderr.write(`facteur: cannot open the log file ${config.log.file}: ${(err as Error).message}\n`);
    return EXIT_FAILURE;
  }
  // A crash is logged before the process ends, so the log says why the server went away.
  process.on('uncaughtException', (err) => {
    logger.fatal({ event: 'crash', err }, 'uncaught exception: exiting');
    process.exit(EXIT_FAILURE);
  });

  const notify = systemdNotifier(process.env, logger);
  // Signals are handled from now on: a SIGHUP or SIGTERM arriving while the servers start must not kill the process.
  // SIGHUP reads the file again; one that no longer parses or validates is refused and the old settings stay.
  const readConfig = async (): Promise<Config | null> => {
    try {
      return await loadConfig(config.file);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      logger.error({ event: 'reload-refused', problems: err.message.split('\n') }, `the config file has problems, keeping the previous settings:\n${err.message}`);
      return null;
    }
  };
  const control = controlBySignals(logger, config.timeouts.shutdownGrace + STOP_MARGIN_MS, notify, readConfig);
  const running = inheritedSockets(process.env).then((inherited) => startApp(config, logger, { inherited, dkimKeys })).then(
    (app) => {
      notify('READY=1'); // every listener is bound (or adopted) and accepting
      control.started(app);
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
function controlBySignals(logger: Logger, stopLimitMs: number, notify: Notify, readConfig: () => Promise<Config | null>): SignalControl {
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
      finish(EXIT_FAILURE);
      return;
    }
    stopping = true;
    notify('STOPPING=1');
    logger.info({ event: 'stopping', signal }, `${signal}: stopping`);
    const timer = setTimeout(() => {
      logger.error({ event: 'stop-timeout' }, `still stopping after ${stopLimitMs} ms: exiting now`);
      finish(EXIT_FAILURE);
    }, stopLimitMs);
    void done.then(() => clearTimeout(timer));
    if (app !== null) stopApp(app);
  };
  const reopen = (signal: NodeJS.Signals): void => {
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
