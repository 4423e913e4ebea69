// A scripted LMTP server (RFC 2033) on a Unix socket, for the client's and the store's tests: each recipient's replies
// chosen by the test, every transaction recorded, and faults on demand (a lost connection among the final replies).
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface LmtpScript {
  /** The RCPT reply for a recipient; default "250 2.1.5 OK". */
  rcpt?(to: string): string;
  /** The reply after the dot for an accepted recipient; default "250 2.0.0 <to> Saved". */
  final?(to: string): string;
  /** Close the connection after this many final replies of a transaction (a crash while storing). */
  dropAfter?: number;
}

export interface LmtpTransaction {
  readonly from: string;
  readonly to: string[];
  /** The data as received, dot-stuffed and with CRLF (null until the dot). */
  data: string | null;
}

export interface FakeLmtp {
  readonly path: string;
  readonly transactions: LmtpTransaction[];
  /** Connections accepted so far. */
  connections(): number;
  script: LmtpScript;
  close(): Promise<void>;
}

export async function startFakeLmtp(script: LmtpScript = {}): Promise<FakeLmtp> {
  const dir = await mkdtemp(join(tmpdir(), 'facteur-lmtp-'));
  const path = join(dir, 'lmtp');
  const sockets = new Set<Socket>();
  let connections = 0;
  const fake: FakeLmtp = {
    path,
    transactions: [],
    connections: () => connections,
    script,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
  const server = createServer((socket) => {
    connections += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    serve(socket, fake);
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return fake;
}

function serve(socket: Socket, fake: FakeLmtp): void {
  let buffer = '';
  let tx: LmtpTransaction | null = null;
  let accepted: string[] = [];
  let inData = false;
  const say = (line: string): void => void socket.write(`${line}\r\n`);
  say('220 fake LMTP ready');
  socket.setEncoding('latin1').on('data', (chunk: string) => {
    buffer += chunk;
    for (;;) {
      if (inData) {
        const end = buffer.indexOf('\r\n.\r\n');
        const empty = buffer.startsWith('.\r\n');
        if (end < 0 && !empty) return;
        const cut = empty ? 0 : end + 2;
        if (tx !== null) tx.data = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 3);
        inData = false;
        const drop = fake.script.dropAfter;
        for (const [i, to] of accepted.entries()) {
          if (drop !== undefined && i >= drop) {
            socket.destroy();
            return;
          }
          say(fake.script.final?.(to) ?? `250 2.0.0 <${to}> Saved`);
        }
        tx = null;
        accepted = [];
        continue;
      }
      const eol = buffer.indexOf('\r\n');
      if (eol < 0) return;
      const line = buffer.slice(0, eol);
      buffer = buffer.slice(eol + 2);
      const verb = line.split(' ')[0]?.toUpperCase();
      if (verb === 'LHLO') say('250-fake\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250 PIPELINING');
      else if (verb === 'MAIL') {
        tx = { from: /<(.*)>/.exec(line)?.[1] ?? '', to: [], data: null };
        fake.transactions.push(tx);
        accepted = [];
        say('250 2.1.0 OK');
      } else if (verb === 'RCPT' && tx !== null) {
        const to = /<(.*)>/.exec(line)?.[1] ?? '';
        tx.to.push(to);
        const r = fake.script.rcpt?.(to) ?? '250 2.1.5 OK';
        if (r.startsWith('2')) accepted.push(to);
        say(r);
      } else if (verb === 'DATA') {
        if (accepted.length === 0) say('503 5.5.1 No valid recipients');
        else {
          inData = true;
          say('354 OK');
        }
      } else if (verb === 'RSET') {
        tx = null;
        accepted = [];
        say('250 2.0.0 OK');
      } else if (verb === 'QUIT') {
        say('221 2.0.0 Bye');
        socket.end();
        return;
      } else say('500 5.5.1 Unknown command');
    }
  });
}
