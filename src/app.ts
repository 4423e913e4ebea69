// STUB: contract only. Wires both servers from the config: the shared SMTP core plus each server's Delivery.
import type { Config } from './config/config.js';
import type { Logger } from './observability/logger.js';

export interface RunningApp {
  /** Stop accepting at once, give sessions up to the grace period, then close them with 421. */
  stop(): Promise<void>;
  /** SIGHUP: re-read certificate and users. */
  reload(): Promise<void>;
}

/** Binds every listener of the enabled servers; rejects with a BindError naming the address and reason. */
export async function startApp(_config: Config, _logger: Logger): Promise<RunningApp> {
  throw new Error('not implemented');
}
