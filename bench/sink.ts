// A fast SMTP sink for the outbound scenarios: accepts everything, counts messages; bench tooling, not product code.
// Run as a child (`fork`) it reports over IPC, so its work does not share an event loop with the load generator.
import { createServer, type Server, type Socket } from 'node:net';
import { pathToFileURL } from 'node:url';

const EHLO_REPLY = '250-sink.bench.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SIZE 1073741824\r\n250-ENHANCEDSTATUSCODES\r\n250 SMTPUTF8\r\n';
const END_OF_DATA = Buffer.from('\r\n.\r\n', 'latin1');

export interface SinkCounts {
  readonly messages: number;
  readonly recipients: number;
  readonly bytes: number;
  /** Connections accepted: shows whether the relay reuses its connections to the same destination. */
  readonly connections: number;
  /** Date.now() when the last message was accepted, 0 before any. */
  readonly lastAt: number;
}

/** The sink server: one per scenario, on a loopback address of its own (127.0.0.2 stands for a remote MX). */
export class Sink {
  messages = 0;
  recipients = 0;
  bytes = 0;
  connections = 0;
  lastAt = 0;
  private readonly sockets = new Set<Socket>();
  private waiters: { n: number; resolve: () => void }[] = [];

  private constructor(private readonly server: Server) {}

  static async start(host: string, port: number): Promise<Sink> {
    const server = createServer({ noDelay: true });
    const sink = new Sink(server);
    server.on('connection', (s) => sink.serve(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port, backlog: 1024 }, () => resolve());
    });
    return sink;
  }

  get port(): number {
    return (this.server.address() as { port: number }).port;
  }

  counts(): SinkCounts {
    return { messages: this.messages, recipients: this.recipients, bytes: this.bytes, connections: this.connections, lastAt: this.lastAt };
  }

  /** Resolves once `n` messages were accepted in total. */
  waitFor(n: number): Promise<void> {
    if (this.messages >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accepted(rcpts: number, size: number): void {
    this.messages++;
    this.recipients += rcpts;
    this.bytes += size;
    this.lastAt = Date.now();
    if (this.waiters.length > 0 && this.waiters.some((w) => this.messages >= w.n)) {
      const due = this.waiters.filter((w) => this.messages >= w.n);
      this.waiters = this.waiters.filter((w) => this.messages < w.n);
      for (const w of due) w.resolve();
    }
  }

  private serve(socket: Socket): void {
    this.sockets.add(socket);
    this.connections++;
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let inData = false;
    let rcpts = 0;
    let size = 0;
    let tail = Buffer.alloc(0); // the last octets of data, to find CRLF.CRLF split across reads
    let line = '';
    socket.write('220 sink.bench.test ESMTP bench sink\r\n');
    socket.on('data', (chunk: Buffer) => {
      let out = '';
      let pos = 0;
      while (pos < chunk.length) {
        if (inData) {
          const joined = tail.length > 0 ? Buffer.concat([tail, chunk.subarray(pos)]) : chunk.subarray(pos);
          const at = joined.indexOf(END_OF_DATA);
          if (at < 0) {
            size += chunk.length - pos;
            tail = Buffer.from(joined.subarray(Math.max(0, joined.length - 4)));
            return void (out !== '' && socket.write(out));
          }
          const consumed = at + END_OF_DATA.length - tail.length;
          size += consumed;
          pos += consumed;
          inData = false;
          tail = Buffer.alloc(0);
          this.accepted(rcpts, size);
          out += '250 2.0.0 Ok: queued\r\n';
          continue;
        }
        const nl = chunk.indexOf(10, pos);
        if (nl < 0) {
          line += chunk.toString('latin1', pos);
          break;
        }
        line += chunk.toString('latin1', pos, nl);
        pos = nl + 1;
        const verb = line.slice(0, 4).toUpperCase();
        line = '';
        switch (verb) {
          case 'EHLO':
            out += EHLO_REPLY;
            break;
          case 'MAIL':
            rcpts = 0;
            out += '250 2.1.0 Ok\r\n';
            break;
          case 'RCPT':
            rcpts++;
            out += '250 2.1.5 Ok\r\n';
            break;
          case 'DATA':
            out += '354 End data with <CR><LF>.<CR><LF>\r\n';
            inData = true;
            size = 0;
            tail = Buffer.from('\r\n', 'latin1'); // the DATA line's own CRLF precedes an empty body's dot
            break;
          case 'QUIT':
            socket.end(out + '221 2.0.0 Bye\r\n');
            return;
          case 'HELO':
          case 'RSET':
          case 'NOOP':
            out += '250 2.0.0 Ok\r\n';
            break;
          default:
            out += '502 5.5.1 Not implemented\r\n';
        }
      }
      if (out !== '') socket.write(out);
    });
  }
}

/** Messages between the bench runner and a forked sink. */
export type SinkRequest = { type: 'wait'; n: number } | { type: 'counts' } | { type: 'close' };
export type SinkReport = { type: 'ready'; port: number } | { type: 'reached'; counts: SinkCounts } | { type: 'counts'; counts: SinkCounts };

/** Child process entry: `fork(sink.js, [host, port])`. */
async function main(): Promise<void> {
  const [host = '127.0.0.2', port = '0'] = process.argv.slice(2);
  const sink = await Sink.start(host, Number(port));
  const send = (m: SinkReport) => process.send?.(m);
  process.on('message', (m: SinkRequest) => {
    if (m.type === 'wait') void sink.waitFor(m.n).then(() => send({ type: 'reached', counts: sink.counts() }));
    else if (m.type === 'counts') send({ type: 'counts', counts: sink.counts() });
    else void sink.close().then(() => process.exit(0));
  });
  process.on('disconnect', () => process.exit(0)); // the runner went away: never linger
  send({ type: 'ready', port: sink.port });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
