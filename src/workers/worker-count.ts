// How many worker processes `workers` means on this machine.
import { availableParallelism } from 'node:os';

/** The most workers a config may ask for: more processes than this only add memory and start-up time. */
export const MAX_WORKERS = 64;

/** "auto" is one worker per CPU the process may run on (os.availableParallelism: the affinity mask, not the socket). */
export function workerCount(setting: number | 'auto', cpus: () => number = availableParallelism): number {
  return setting === 'auto' ? Math.min(MAX_WORKERS, Math.max(1, cpus())) : setting;
}
