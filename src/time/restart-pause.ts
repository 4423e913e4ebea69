// How long to wait before starting again something that died (a worker process, a helper thread): at once if it had
// lived past its youth, else after a pause that doubles with each young death, up to a bound. A broken install
// then costs a start a minute instead of one per message or per connection.

export interface RestartPauses {
  /** An uptime at least this long counts as a healthy life: the next start is at once. */
  readonly healthyMs: number;
  readonly firstMs: number;
  readonly maxMs: number;
}

/** The pause before the next start, given the pause before this one (0 if none) and how long this one lived. */
export function nextRestartPause(previousMs: number, uptimeMs: number, p: RestartPauses): number {
  return uptimeMs >= p.healthyMs ? 0 : Math.min(p.maxMs, Math.max(p.firstMs, previousMs * 2));
}

/** For a helper thread (the inbound checks', the DKIM signing one): young is under 5 s, then 1 s doubling to a minute. */
export const THREAD_RESTART_PAUSES: RestartPauses = { healthyMs: 5000, firstMs: 1000, maxMs: 60_000 };
