// Atomic, durable replacement of small state files: write a tmp file, fsync it, rename(2) over the target, fsync the directory.
import { closeSync, fsync, open, openSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** Every temporary file made here (and by the queue's body writer) ends with this, so a restart can find and remove leftovers. */
export const TMP_SUFFIX = '.tmp';

/** A fresh temporary name beside `path`, in the same directory so that rename(2) is atomic (same file system). */
export function tmpPathFor(path: string): string {
  // Unpredictability is not needed (the file is created with O_EXCL in a private directory), so no CSPRNG call.
  const random = Math.floor(Math.random() * 2 ** 48).toString(16).padStart(12, '0');
  return join(dirname(path), `${basename(path)}.${random}${TMP_SUFFIX}`);
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
  // These files are small: write (into the page cache), close and rename take microseconds on the event loop,
  // where a trip through the thread pool costs context switches. The creation and the fsync may wait on the
  // file system's journal, so they go to the pool (see quick-file.ts).
  // 'wx' (O_CREAT|O_EXCL): never write through a file or link someone left under that name.
  const fd = await new Promise<number>((resolve, reject) => open(tmp, 'wx', mode, (err, fd) => (err === null ? resolve(fd) : reject(err))));
  try {
    try {
      writeFileSync(fd, data);
      await fsyncFd(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
    throw err;
  }
  await syncDir(dirname(path));
}

function fsyncFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fsync(fd, (err) => (err === null ? resolve() : reject(err))));
}

/** Flushes a directory's entries (creations, renames, removals) to disk. */
export async function fsyncDir(dir: string): Promise<void> {
  const fd = openSync(dir, 'r');
  try {
    await fsyncFd(fd);
  } finally {
    closeSync(fd);
  }
}
