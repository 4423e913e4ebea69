// Folders made durable: fsync(2) of a folder (its entries: creations, renames, removals), and a folder created with
// every new parent flushed.
import { closeSync, fsync, openSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Makes a folder's entries durable. */
export type SyncDirectory = (path: string) => Promise<void>;

/** Flushes a folder's entries (creations, renames, removals) to disk. */
export const fsyncDirectory: SyncDirectory = async (dir) => {
  const fd = openSync(dir, 'r');
  try {
    await new Promise<void>((resolve, reject) => fsync(fd, (err) => (err === null ? resolve() : reject(err))));
  } finally {
    closeSync(fd);
  }
};

/**
 * mkdir -p with mode 0700. A new folder is durable only once its parent is flushed, so every parent of a folder this
 * call created is synced, from `dir`'s parent up to the parent of the first one created. Resolves true if it created `dir`.
 */
export async function makeDurableDir(dir: string, syncDir: SyncDirectory = fsyncDirectory): Promise<boolean> {
  const first = await mkdir(dir, { recursive: true, mode: 0o700 });
  if (first === undefined) return false;
  const parents: string[] = [];
  for (let d = dir; d !== dirname(first) && dirname(d) !== d; d = dirname(d)) parents.push(dirname(d));
  await Promise.all(parents.map((p) => syncDir(p)));
  return true;
}
