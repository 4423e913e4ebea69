// Loading the config for a command: its problems go to stderr as `FILE: key: problem` lines (exit 2).
import type { Config } from '../config/config.js';
import { ConfigError } from '../config/config-error.js';
import { loadConfig, resolveConfigPath } from '../config/load-config.js';

/** Exit code for bad usage or a bad config (README, Commands). */
export const EXIT_CONFIG = 2;

/** The config named by -c (or the default one), or null once its problems are printed. */
export async function loadConfigForCommand(cliPath: string | undefined): Promise<Config | null> {
  try {
    return await loadConfig(resolveConfigPath(cliPath));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    return null;
  }
}
