// Runs the SMTP sink in a child process and talks to it over IPC (see sink.ts).
import { fork, type ChildProcess } from 'node:child_process';
import type { SinkCounts, SinkReport, SinkRequest } from './sink.js';

export class SinkProcess {
  private constructor(
    private readonly child: ChildProcess,
    readonly host: string,
    readonly port: number,
  ) {}

  /** Starts the sink on host:port (0 for any port) and waits until it listens. */
  static async start(host: string, port: number, timeoutMs = 10_000): Promise<SinkProcess> {
    const child = fork(new URL('./sink.js', import.meta.url), [host, String(port)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const ready = await receive(child, (m) => m.type === 'ready', timeoutMs, 'sink start');
    if (ready.type !== 'ready') throw new Error('sink: unexpected report');
    return new SinkProcess(child, host, ready.port);
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  /** Resolves with the counts once the sink has accepted `n` messages in total. */
  async waitFor(n: number, timeoutMs: number): Promise<SinkCounts> {
    this.send({ type: 'wait', n });
    const m = await receive(this.child, (r) => r.type === 'reached' && r.counts.messages >= n, timeoutMs, `sink waiting for ${n} messages`);
    return (m as { counts: SinkCounts }).counts;
  }

  async counts(timeoutMs = 5_000): Promise<SinkCounts> {
    this.send({ type: 'counts' });
    const m = await receive(this.child, (r) => r.type === 'counts', timeoutMs, 'sink counts');
    return (m as { counts: SinkCounts }).counts;
  }

  /** Stops the child; kills it if it does not exit within a few seconds. */
  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    if (this.child.connected) this.send({ type: 'close' });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }

  private send(m: SinkRequest): void {
    this.child.send(m);
  }
}

/** The first report matching `accept`, or a rejection on timeout or on the child's exit. */
function receive(child: ChildProcess, accept: (m: SinkReport) => boolean, timeoutMs: number, what: string): Promise<SinkReport> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: SinkReport) => {
      if (!accept(m)) return;
      cleanup();
      resolve(m);
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`${what}: the sink exited (${code})`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${what}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}
