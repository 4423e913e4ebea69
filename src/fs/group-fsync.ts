// Group commit for directory fsync: callers asking while a directory is being synced share the next fsync.
import { fsyncDirectory, type SyncDirectory } from './directory.js';

interface Batch {
  readonly promise: Promise<void>;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

interface DirectoryState {
  /** The fsync in flight, if any. */
  running: Promise<void> | null;
  /** Callers waiting for the fsync after the running one; it has not started yet. */
  next: Batch | null;
}

/**
 * One fsync of new/ covers every rename into it that completed before the fsync started. So a caller
 * that arrives while an fsync is running must not share it (its rename may have come too late); it waits
 * for the next one, which starts as soon as the running one ends and serves every caller queued meanwhile.
 * Under load this turns N directory fsyncs into about two per directory in flight, whatever N.
 */
export class GroupFsync {
  readonly #sync: SyncDirectory;
  readonly #dirs = new Map<string, DirectoryState>();

  constructor(sync: SyncDirectory = fsyncDirectory) {
    this.#sync = sync;
  }

  /** Resolves once an fsync of `path` that started after this call has succeeded; rejects with its error. */
  sync(path: string): Promise<void> {
    let state = this.#dirs.get(path);
    if (state === undefined) {
      state = { running: null, next: null };
      this.#dirs.set(path, state);
    }
    state.next ??= deferred();
    const batch = state.next;
    if (state.running === null) this.#start(path, state);
    return batch.promise;
  }

  /** Waits until no fsync is running (for shutdown). */
  async drain(): Promise<void> {
    for (;;) {
      const running = [...this.#dirs.values()].map((s) => s.running).filter((p) => p !== null);
      if (running.length === 0) return;
      await Promise.allSettled(running);
    }
  }

  #start(path: string, state: DirectoryState): void {
    const batch = state.next;
    if (batch === null) return;
    state.next = null;
    const run = Promise.resolve()
      .then(() => this.#sync(path))
      .then(batch.resolve, batch.reject)
      .finally(() => {
        state.running = null;
        if (state.next !== null) this.#start(path, state);
        else this.#dirs.delete(path); // forget idle directories: the map stays as small as the work in flight
      });
    state.running = run;
  }
}

function deferred(): Batch {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
