// The scheduler's clock for retries: setTimeout/clearTimeout behind an interface, so that tests drive time by hand.

/** setTimeout/clearTimeout, injectable for tests. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemTimers: Timers = {
  // Unref'd: a retry hours away must not keep a process alive on its own (the listeners and the control socket do).
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};
