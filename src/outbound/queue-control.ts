// How `facteur queue flush|delete|list` reach the running server: a Unix socket <data_dir>/control.sock, one JSON line each way.
import { chmod, unlink } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { z } from 'zod';
import type { Logger } from '../observability/logger.js';
import { isValidQueueId } from './queue-file.js';
import type { QueueEntry } from './queue-item.js';
import { errorCode } from '../fs/error-code.js';
import { errorText } from '../observability/error-text.js';

export type ControlRequest = { readonly cmd: 'flush' } | { readonly cmd: 'list' } | { readonly cmd: 'delete'; readonly id: string };
export type ControlResponse =
  | { readonly ok: true; readonly deleted?: boolean; readonly entries?: readonly QueueEntry[] }
  | { readonly ok: false; readonly error: string };

/** What the server does for each request. */
export interface ControlHandlers {
  flush(): void;
  delete(id: string): Promise<boolean>;
  list(): readonly QueueEntry[];
}

export const controlSocketPath = (dataDir: string): string => join(dataDir, 'control.sock');

/** A request line longer than this is not ours: drop the connection. */
const MAX_REQUEST = 4096;
/** A client that says nothing for this long is dropped; the CLI waits as long for an answer. */
export const CONTROL_TIMEOUT_MS = 5000;
/** sun_path holds 108 bytes on Linux and 104 on macOS, the final NUL included. */
const MAX_SOCKET_PATH = 103;

const requestSchema = z.discriminatedUnion('cmd', [
  z.object({ cmd: z.literal('flush') }),
  z.object({ cmd: z.literal('list') }),
  z.object({ cmd: z.literal('delete'), id: z.string().refine(isValidQueueId, 'invalid queue id') }),
]);

export class ControlServer {
  readonly #server: Server;
  readonly #path: string;
  readonly #sockets = new Set<Socket>();

  private constructor(server: Server, path: string) {
    this.#server = server;
    this.#path = path;
  }

  /**
   * Listens on `path` (mode 0600: only our user may flush or delete). A socket file left by a crashed server is
   * removed; one that still answers means another server runs on this data directory, which is an error
   * (two queues on one folder would deliver every message twice).
   */
  static async listen(path: string, handlers: ControlHandlers, logger: Logger): Promise<ControlServer> {
    if (Buffer.byteLength(path) > MAX_SOCKET_PATH) throw new Error(`control socket path too long for a Unix socket: ${path}`);
    await removeStaleSocket(path);
    const server = createServer();
    const control = new ControlServer(server, path);
    server.on('connection', (socket) => control.#serve(socket, handlers, logger));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => logger.error({ event: 'control-error', err }, 'control socket error'));
    await chmod(path, 0o600);
    return control;
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const s of this.#sockets) s.destroy();
    await closed;
    await unlink(this.#path).catch(() => undefined);
  }

  #serve(socket: Socket, handlers: ControlHandlers, logger: Logger): void {
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.setTimeout(CONTROL_TIMEOUT_MS, () => socket.destroy());
    let buffered = '';
    const onData = (data: Buffer): void => {
      buffered += data.toString('utf8');
      const end = buffered.indexOf('\n');
      if (end < 0) {
        if (buffered.length > MAX_REQUEST) socket.destroy();
        return;
      }
      socket.off('data', onData);
      void answer(buffered.slice(0, end), handlers, logger).then((response) => socket.end(`${JSON.stringify(response)}\n`));
    };
    socket.on('data', onData);
  }
}

async function answer(line: string, handlers: ControlHandlers, logger: Logger): Promise<ControlResponse> {
  let request: ControlRequest;
  try {
    const parsed = requestSchema.safeParse(JSON.parse(line));
    if (!parsed.success) return { ok: false, error: `bad request: ${z.prettifyError(parsed.error)}` };
    request = parsed.data;
  } catch {
    return { ok: false, error: 'bad request: not JSON' };
  }
  try {
    switch (request.cmd) {
      case 'flush':
        logger.info({ event: 'flush' }, 'queue flush requested');
        handlers.flush();
        return { ok: true };
      case 'list':
        return { ok: true, entries: handlers.list() };
      case 'delete':
        return { ok: true, deleted: await handlers.delete(request.id) };
    }
  } catch (err) {
    logger.error({ event: 'control-failed', cmd: request.cmd, err }, 'control request failed');
    return { ok: false, error: errorText(err) };
  }
}

async function removeStaleSocket(path: string): Promise<void> {
  await assertNoOtherServer(path);
  await unlink(path).catch((err: unknown) => {
    if (errorCode(err) !== 'ENOENT') throw err;
  });
}

/**
 * Throws if a server already answers on `path`. Checked before the queue is even loaded: a second server would
 * take the first one's files in flight for leftovers of a crash, then deliver every message a second time.
 */
export async function assertNoOtherServer(path: string): Promise<void> {
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH) return;
  if ((await probe(path)) === 'alive') throw new Error(`another facteur is running on this data directory (${path} answers)`);
}

/** Whether a server answers at `path`: alive, stale (a file nobody listens on) or absent. */
function probe(path: string): Promise<'alive' | 'stale' | 'absent'> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve('alive');
    });
    socket.once('error', (err) => {
      const code = errorCode(err);
      if (code === 'ENOENT') resolve('absent');
      else if (code === 'ECONNREFUSED' || code === 'ENOTSOCK') resolve('stale');
      else reject(err);
    });
  });
}

/** Sends one request to the running server; resolves null when no server is running. */
export function controlRequest(path: string, request: ControlRequest, timeoutMs = CONTROL_TIMEOUT_MS): Promise<ControlResponse | null> {
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH) return Promise.reject(new Error(`control socket path too long for a Unix socket: ${path}`));
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    let received = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer from the server on ${path} within ${timeoutMs} ms`));
    }, timeoutMs);
    const settle = (fn: () => void): void => {
      clearTimeout(timer);
      socket.destroy();
      fn();
    };
    socket.once('connect', () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on('data', (data) => {
      received += data.toString('utf8');
      const end = received.indexOf('\n');
      if (end < 0) return;
      settle(() => {
        try {
          resolve(JSON.parse(received.slice(0, end)) as ControlResponse);
        } catch {
          reject(new Error(`unreadable answer from the server on ${path}`));
        }
      });
    });
    socket.once('end', () => settle(() => reject(new Error(`the server on ${path} closed the connection without answering`))));
    socket.once('error', (err) => {
      const code = errorCode(err);
      // No socket, or a socket nobody listens on (left by a crash): the server is not running.
      settle(() => (code === 'ENOENT' || code === 'ECONNREFUSED' ? resolve(null) : reject(err)));
    });
  });
}
