// Greylisting's memory on disk: one JSON file, <data_dir>/greylist.json, replaced atomically a few seconds after
// a change (and at shutdown).
//
// Why a rewritten JSON file and not an append-only log: the state is small and bounded (at most MAX_TRIPLES
// entries of ~50 bytes), a decision costs nothing to lose (a triple forgotten in a crash is greylisted once more:
// a delay, never a lost message), and a whole-file replacement needs no compaction, no replay and no torn-tail
// handling. Writes are batched (at most one per SAVE_DELAY_MS), so a busy server does not rewrite it per RCPT.
import { readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { replaceFileDurably } from '../fs/durable-file.js';
import type { Logger } from '../observability/logger.js';
import { GreylistState, type GreylistRules } from './greylist-state.js';

/** The file's name in the data directory: fixed, never built from anything a client sends. */
export const GREYLIST_FILE = 'greylist.json';
const SAVE_DELAY_MS = 5_000;

export class GreylistFile {
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> | null = null;
  private dirty = false;
  private closed = false;

  private constructor(
    private readonly path: string,
    readonly state: GreylistState,
    private readonly logger: Logger,
    private readonly now: () => number,
  ) {}

  /**
   * Reads the file (none yet: an empty memory). A file that cannot be read as ours is moved aside to
   * greylist.json.corrupt for the operator and greylisting starts afresh.
   */
  static open(opts: { dataDir: string; rules: GreylistRules; logger: Logger; now: () => number }): GreylistFile {
    const path = join(opts.dataDir, GREYLIST_FILE);
    const state = new GreylistState(opts.rules);
    let text: string | null = null;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (text !== null) {
      try {
        state.restore(JSON.parse(text));
      } catch (err) {
        renameSync(path, `${path}.corrupt`);
        opts.logger.error({ event: 'greylist-corrupt', file: path, err: (err as Error).message }, `greylist file unreadable, moved aside to ${path}.corrupt; starting afresh`);
        return new GreylistFile(path, new GreylistState(opts.rules), opts.logger, opts.now);
      }
    }
    const file = new GreylistFile(path, state, opts.logger, opts.now);
    const dropped = state.prune(opts.now());
    if (dropped > 0) file.changed();
    opts.logger.info({ event: 'greylist-loaded', ...state.size, pruned: dropped }, 'greylist loaded');
    return file;
  }

  /** The state changed: it is written within SAVE_DELAY_MS (one write for every change in that time). */
  changed(): void {
    this.dirty = true;
    if (this.timer !== null || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.save();
    }, SAVE_DELAY_MS);
    this.timer.unref();
  }

  /** Writes what is pending now and stops saving. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await this.save();
  }

  /** One write at a time; changes made during a write are saved by the next one. Never rejects (logs instead). */
  private async save(): Promise<void> {
    while (this.writing !== null) await this.writing;
    if (!this.dirty) return;
    this.dirty = false;
    this.state.prune(this.now());
    const text = JSON.stringify(this.state.snapshot());
    this.writing = replaceFileDurably(this.path, text, { mode: 0o600 })
      .then(() => this.logger.debug({ event: 'greylist-saved', ...this.state.size }, 'greylist saved'))
      .catch((err: unknown) => {
        this.dirty = true; // tried again at the next change, or at close
        this.logger.error({ event: 'greylist-save-failed', file: this.path, err }, 'could not save the greylist');
      })
      .finally(() => {
        this.writing = null;
      });
    await this.writing;
    if (this.dirty && !this.closed) this.changed();
  }
}
