// A private temporary copy of a message being received, for a store that must send it later or twice (LMTP).
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Spool files of one process: <dir>/<pid>/<counter>. Each process (workers included) has its own folder, and removes
 * the folders of processes that no longer run: what a crash left behind.
 */
export class Spool {
  #counter = 0;

  private constructor(private readonly dir: string) {}

  static async open(root: string, pid: number): Promise<Spool> {
    await mkdir(root, { recursive: true, mode: 0o700 });
    for (const name of await readdir(root)) {
      if (/^\d+$/.test(name) && (Number(name) === pid || !isRunning(Number(name)))) await rm(join(root, name), { recursive: true, force: true });
    }
    const dir = join(root, String(pid));
    await mkdir(dir, { mode: 0o700 });
    return new Spool(dir);
  }

  /** Removes this process's folder (at shutdown, once no message is in flight). */
  async close(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }

  async create(): Promise<SpoolFile> {
    const path = join(this.dir, String(++this.#counter));
    return new SpoolFile(path, await open(path, 'wx', 0o600));
  }
}

/** Written in order, then read back any number of times; remove() is safe at any time. */
export class SpoolFile {
  #closed = false;

  constructor(
    private readonly path: string,
    private readonly handle: FileHandle,
  ) {}

  async write(chunk: Buffer): Promise<void> {
    await this.handle.write(chunk);
  }

  /** Ends writing; the content can then be read (not flushed: a spool is not a promise, the store's reply is). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.handle.close();
  }

  read(): AsyncIterable<Buffer> {
    return createReadStream(this.path, { highWaterMark: 64 * 1024 });
  }

  async remove(): Promise<void> {
    await this.close().catch(() => undefined);
    await rm(this.path, { force: true });
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM';
  }
}
