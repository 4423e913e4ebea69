// Atomic, durable replacement of small state files: write a tmp file, fsync it, rename(2) over the target, fsync the directory.
import { randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Every temporary file made here (and by the queue's body writer) ends with this, so a restart can find and remove leftovers. */
export const TMP_SUFFIX = '.tmp';

/** A fresh temporary name beside `path`, in the same directory so that rename(2) is atomic (same file system). */
export function tmpPathFor(path: string): string {
  return join(dirname(path), `${basename(path)}.${randomBytes(6).toString('hex')}${TMP_SUFFIX}`);
}

/**
 * Replaces `path` with `data` so that a crash leaves either the old content or the new one, never a mix:
 * the data is flushed before the rename, and the directory after it (a rename lives in the directory entry).
 * On failure the temporary file is removed and the error thrown; the old content is untouched.
 * `syncDir` flushes the directory; it must only resolve after an fsync that started after it was called (a group
 * commit such as src/fs/group-fsync.ts lets many writers share one).
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  mode = 0o600,
  syncDir: (dir: string) => Promise<void> = fsyncDir,
): Promise<void> {
  const tmp = tmpPathFor(path);
  // 'wx' (O_CREAT|O_EXCL): never write through a file or link someone left under that name.
  const handle = await open(tmp, 'wx', mode);
  try {
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await syncDir(dirname(path));
}

/** Flushes a directory's entries (creations, renames, removals) to disk. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
