// A new file whose cheap steps run on the event loop: for a small message, write (a copy into the page cache) and
// close take microseconds each, while a trip through libuv's thread pool costs a context switch or two. The steps
// that may wait for the disk go to the pool: fdatasync, the writes of a large message (the kernel may throttle them
// during writeback), and the creation itself (open(O_CREAT) joins the file system's journal and waits out any
// commit in progress).
import { closeSync, fdatasync, open as openAsync, write as writeAsync, writeSync } from 'node:fs';

/** What a writer needs of an open file (fs.promises.FileHandle has it too, for tests that fake failures). */
export interface QuickFile {
  write(buffer: Buffer, offset: number, length: number): Promise<{ bytesWritten: number }>;
  datasync(): Promise<void>;
  close(): Promise<void>;
}

/** Bytes written synchronously before the writes of a message go to the thread pool. */
const SYNC_WRITE_LIMIT = 256 * 1024;

/** Creates `path` with O_CREAT|O_EXCL (never reusing or following anything already there), mode 0600 by default. */
export async function createQuickFile(path: string, mode = 0o600): Promise<QuickFile> {
  const fd = await new Promise<number>((resolve, reject) =>
    openAsync(path, 'wx', mode, (err, fd) => (err === null ? resolve(fd) : reject(err))),
  );
  let written = 0;
  let closed = false;
  return {
    async write(buffer: Buffer, offset: number, length: number) {
      if (written + length <= SYNC_WRITE_LIMIT) {
        const bytesWritten = writeSync(fd, buffer, offset, length);
        written += bytesWritten;
        return { bytesWritten, buffer };
      }
      return new Promise<{ bytesWritten: number; buffer: Buffer }>((resolve, reject) => {
        writeAsync(fd, buffer, offset, length, null, (err, bytesWritten) => {
          if (err !== null) return reject(err);
          written += bytesWritten;
          resolve({ bytesWritten, buffer });
        });
      });
    },
    datasync(): Promise<void> {
      return new Promise((resolve, reject) => fdatasync(fd, (err) => (err === null ? resolve() : reject(err))));
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      closeSync(fd);
    },
  };
}
