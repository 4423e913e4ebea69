// `facteur start` in a worker process: the sessions of the connections the primary hands over, until it says stop.
import { startApp, type RunningApp } from '../app.js';
import type { Config } from '../config/config.js';
import type { DkimKeys } from '../mailauth/dkim-keys.js';
import { errorText } from '../observability/error-text.js';
import { reopenLog, type Logger } from '../observability/logger.js';
import { SharedClientLimits, SharedGreylist } from './shared-state.js';
import { WorkerLink, type ParentPort } from './worker-link.js';

export interface WorkerMainOptions {
  readonly config: Config;
  readonly logger: Logger;
  readonly dkimKeys: DkimKeys | undefined;
  /** Reads the config file again (SIGHUP); null when it has problems (logged): the old settings stay. */
  readonly readConfig: () => Promise<Config | null>;
  readonly port?: ParentPort;
}

/**
 * Runs the worker; resolves with its exit code (0 after a stop). Signals sent to the whole process group (a
 * terminal's Ctrl-C, systemd's KillMode=control-group) arrive here and from the primary both: a stop is one stop.
 */
export async function runWorker(opts: WorkerMainOptions): Promise<number> {
  const { config, logger } = opts;
  const link = new WorkerLink(opts.port ?? (process as ParentPort), logger);
  let app: RunningApp;
  try {
    app = await startApp(config, logger, {
      ...(opts.dkimKeys === undefined ? {} : { dkimKeys: opts.dkimKeys }),
      cluster: {
        role: 'worker',
        takeOver: link.takeOver,
        clientLimits: (settings) => new SharedClientLimits(settings, link, logger),
        greylist: new SharedGreylist(link, logger),
        enqueue: link.enqueue,
      },
    });
  } catch (err) {
    logger.error({ event: 'start-failed', err }, `worker could not start: ${errorText(err)}`);
    return 1;
  }
  let finish: (code: number) => void = () => undefined;
  const done = new Promise<number>((resolve) => (finish = resolve));
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    app.stop().then(
      () => finish(0),
      (err: unknown) => {
        logger.error({ event: 'stop-failed', err }, 'stopping failed');
        finish(1);
      },
    );
  };
  const reopen = (): void => {
    try {
      reopenLog(logger);
    } catch (err) {
      logger.error({ event: 'log-reopen-failed', err }, `could not reopen the log file: ${errorText(err)}`);
    }
  };
  const reload = async (): Promise<void> => {
    if (stopping) return;
    try {
      const next = await opts.readConfig();
      if (next !== null) await app.reload(next);
    } catch (err) {
      logger.error({ event: 'reload-failed', err }, `reload failed, keeping the previous settings: ${errorText(err)}`);
    }
  };
  link.obey({ stop, reload, reopenLog: reopen, metrics: () => app.shared().metrics.json() });
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('SIGHUP', () => void reload());
  process.on('SIGUSR1', reopen);
  link.send({ t: 'ready' });
  const code = await done;
  logger.flush();
  return code;
}
