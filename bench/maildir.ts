// Counting the messages a server made durable in a Maildir new/ folder, and waiting for them.
import { spawnSync } from 'node:child_process';
import { readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';

export async function countFiles(dir: string): Promise<number> {
  try {
    return (await readdir(dir)).length;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
}

export interface Arrival {
  readonly count: number;
  /** Date.now() scale: when the last entry was added (the folder's mtime), exact whatever the polling interval. */
  readonly lastAddedMs: number;
}

/**
 * Polls until `dir` holds at least `target` entries or the deadline (Date.now() scale) passes. Called once the
 * client is done, so polling never competes with the measured run; a server that answered 250 only after
 * the rename (facteur) is found complete at the first look.
 */
export async function waitForFiles(dir: string, target: number, deadline: number): Promise<Arrival> {
  for (;;) {
    const count = await countFiles(dir);
    if (count >= target || Date.now() > deadline) {
      const lastAddedMs = count === 0 ? 0 : (await stat(dir)).mtimeMs;
      return { count, lastAddedMs };
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Empties a Maildir new/ folder between measures (only a folder named new, and only its files). */
export async function emptyNewDir(dir: string): Promise<void> {
  if (!/\/new\/?$/.test(dir)) throw new Error(`refusing to empty ${dir}: not a Maildir new/ folder`);
  const names = await readdir(dir).catch(() => [] as string[]);
  for (let i = 0; i < names.length; i += 256) {
    await Promise.all(names.slice(i, i + 256).map((n) => unlink(join(dir, n)).catch(() => undefined)));
  }
}

/**
 * sync(1) before a measure: the writeback of earlier runs and the freeing of deleted files (ext4 journal commits,
 * discards) would otherwise land inside the measured interval, as inbound-bench.sh also avoids.
 */
export function flushDisk(): void {
  spawnSync('sync');
}
