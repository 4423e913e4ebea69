// The wait for the client's next command: one timer and one signal per connection, refreshed for each command (the
// wait is on the hot path of every session, so nothing is allocated per command).

export class CommandWait {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private waiting = false;
  private idle = false;
  /** Why the wait ended early, once it has. */
  endedBy: 'timeout' | 'shutdown' | null = null;

  constructor(
    private readonly timeoutMs: number,
    private readonly shutdown: AbortSignal,
  ) {
    this.timer = setTimeout(() => this.onTimeout(), timeoutMs);
    this.timer.unref(); // the socket keeps the process alive, not this timer
    shutdown.addEventListener('abort', this.onShutdown);
  }

  /** Starts a wait; `idle` (no transaction open) waits are also ended by shutdown. */
  begin(idle: boolean): AbortSignal {
    this.waiting = true;
    this.idle = idle;
    this.timer.refresh();
    if (idle && this.shutdown.aborted) this.abort('shutdown');
    return this.controller.signal;
  }

  /** The command arrived: time spent handling it is not the client's. */
  end(): void {
    this.waiting = false;
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.shutdown.removeEventListener('abort', this.onShutdown);
  }

  private onTimeout(): void {
    if (this.waiting) this.abort('timeout');
  }

  private readonly onShutdown = (): void => {
    if (this.waiting && this.idle) this.abort('shutdown');
  };

  private abort(why: 'timeout' | 'shutdown'): void {
    if (this.endedBy !== null) return;
    this.endedBy = why;
    const reason = why === 'timeout' ? new DOMException(`no command for ${this.timeoutMs} ms`, 'TimeoutError') : new DOMException('server shutting down', 'AbortError');
    this.controller.abort(reason);
  }
}
