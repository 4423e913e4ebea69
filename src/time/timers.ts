// Timers behind an interface (the queue's retries and time limits), so that tests drive time by hand; a timer's limit.

/** setTimeout/clearTimeout, injectable for tests. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The longest delay a Node.js timer takes (about 24.8 days); a longer one fires at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export const systemTimers: Timers = {
  // Unref'd: a retry hours away must not keep a process alive on its own (the listeners and the control socket do).
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Resolves after `ms` on these timers (for a bounded wait: race it against the work). */
export function delay(timers: Timers, ms: number): { readonly promise: Promise<void>; cancel(): void } {
  let handle: unknown = null;
  const promise = new Promise<void>((resolve) => {
    handle = timers.setTimeout(resolve, ms);
  });
  return { promise, cancel: () => timers.clearTimeout(handle) };
}
