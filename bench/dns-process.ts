// A DNS server on loopback in a child process (the tests' dns2 server, every name NXDOMAIN), so that answering a
// busy client such as rspamd does not count as the bench process's own CPU.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('./dns-process-child.js', import.meta.url));

export class DnsProcess {
  private constructor(
    private readonly child: ChildProcess,
    /** "127.0.0.1:PORT", UDP and TCP. */
    readonly address: string,
  ) {}

  static async start(): Promise<DnsProcess> {
    const child = fork(CHILD, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    const address = await new Promise<string>((resolve, reject) => {
      child.once('message', (m) => resolve(String(m)));
      child.once('exit', (code) => reject(new Error(`the DNS server process exited (${code})`)));
    });
    return new DnsProcess(child, address);
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGTERM');
    await exited;
  }
}
