// The delay before the next delivery attempt: retry_min, doubling per attempt, capped at retry_max, with ±10 % jitter.

export interface BackoffOptions {
  /** First retry delay, ms. */
  readonly min: number;
  /** Longest delay, ms. */
  readonly max: number;
  /** Uniform in [0, 1); Math.random by default, fixed in tests. */
  readonly random?: () => number;
}

/** Share of the delay by which it may move either way. */
export const JITTER = 0.1;

/**
 * Milliseconds to wait after the `attempts`-th failed attempt (1 for the first).
 * The jitter spreads retries so that messages deferred together by one outage do not all come back at the same
 * instant (chasquid's nextDelay does the same); the result never exceeds `max`.
 */
export function retryDelay(attempts: number, opts: BackoffOptions): number {
  const random = opts.random ?? Math.random;
  const max = Math.max(opts.max, opts.min);
  // 2^(attempts-1), computed without overflowing: past ~60 doublings every delay is capped anyway.
  const exponent = Math.min(Math.max(attempts - 1, 0), 60);
  const base = Math.min(opts.min * 2 ** exponent, max);
  const jittered = base * (1 - JITTER + 2 * JITTER * random());
  return Math.round(Math.min(jittered, max));
}
