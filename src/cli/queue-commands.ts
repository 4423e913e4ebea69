// STUB: contract only. `facteur queue list|flush|delete`; each returns the process exit code.
import type { Config } from '../config/config.js';

export async function queueList(_config: Config, _opts: { json: boolean }): Promise<number> {
  throw new Error('not implemented');
}
export async function queueFlush(_config: Config): Promise<number> {
  throw new Error('not implemented');
}
export async function queueDelete(_config: Config, _id: string): Promise<number> {
  throw new Error('not implemented');
}
