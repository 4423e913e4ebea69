// Stopping a helper thread that has had nothing to do for a while (the inbound checks', the DKIM signing one): each
// holds a V8 heap of its own, 10 to 30 MiB, which a small domain's server would otherwise keep for a message an hour.
import type { Timers } from './timers.js';

/** How long a helper thread waits for work before it is stopped: 100 s, as Postfix's daemons (`max_idle`). */
export const THREAD_IDLE_STOP_MS = 100_000;

/** A timer armed while there is nothing to do, disarmed by new work; it fires once per quiet spell. */
export class IdleTimer {
  readonly #timers: Timers;
  readonly #ms: number;
  #handle: unknown = null;

  constructor(timers: Timers, ms: number) {
    this.#timers = timers;
    this.#ms = ms;
  }

  /** Calls `fire` after the quiet spell unless disarmed before; already armed: unchanged. */
  arm(fire: () => void): void {
    if (this.#handle !== null) return;
    this.#handle = this.#timers.setTimeout(() => {
      this.#handle = null;
      fire();
    }, this.#ms);
  }

  disarm(): void {
    if (this.#handle === null) return;
    this.#timers.clearTimeout(this.#handle);
    this.#handle = null;
  }
}
