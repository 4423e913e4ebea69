// systemd integration of a real `facteur start`: sd_notify (READY=1 once the ports accept, RELOADING=1/READY=1
// around SIGHUP, STOPPING=1) to a notify socket the test plays, and socket activation (a listening socket passed
// as fd 3, as systemd does, serves mail without facteur binding anything).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { prepareFacteur } from '../helpers/facteur.js';
import { listMail } from '../helpers/maildir.js';
import { deliverOne } from '../helpers/smtp-dialog.js';

const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

interface DgramServer {
  on(event: 'message', listener: (buf: Buffer) => void): void;
  bind(path: string): void;
  close(): void;
}
let unixDgram: { createSocket(type: 'unix_dgram'): DgramServer } | null = null;
try {
  unixDgram = createRequire(import.meta.url)('unix-dgram') as typeof unixDgram;
} catch {
  unixDgram = null;
}

/** A port free right now on 127.0.0.1 (the config must name it before facteur starts, to connect on READY=1). */
async function freePort(): Promise<number> {
  const s = createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address() as { port: number };
  s.close();
  await once(s, 'close');
  return port;
}

/** Resolves with 'connected' or the error code. */
function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

// Each test with one process and with two workers: READY=1 must wait for the workers, and the primary adopts the socket.
for (const workers of [1, 2]) {
  test(`sd_notify: READY=1 once the ports accept, RELOADING=1 then READY=1 around SIGHUP, STOPPING=1 on SIGTERM (workers = ${workers})`, { skip: unixDgram === null ? 'the unix-dgram addon is not installed' : false }, async (t) => {
    const port = await freePort();
    const prepared = await prepareFacteur({ toml: `workers = ${workers}\n[inbound]\nlisten = ["127.0.0.1:${port}"]\nlisten_tls = []\n` });
    t.after(() => prepared.cleanup());
    const notifySocket = join(prepared.dir, 'notify.sock');
    const states: string[] = [];
    const waiters: (() => void)[] = [];
    const receiver = unixDgram!.createSocket('unix_dgram');
    let readyCheck: Promise<string> | null = null;
    receiver.on('message', (buf) => {
      const state = buf.toString();
      // The moment READY=1 arrives, the port must already accept connections.
      if (state === 'READY=1' && readyCheck === null) readyCheck = tryConnect(port);
      states.push(state);
      for (const w of waiters.splice(0)) w();
    });
    receiver.bind(notifySocket);
    t.after(() => receiver.close());
    const until = async (n: number): Promise<void> => {
      while (states.length < n) await new Promise<void>((resolve) => waiters.push(resolve));
    };

    const child = spawn(process.execPath, [main, 'start', '-c', prepared.configPath], { stdio: 'ignore', env: { ...process.env, NOTIFY_SOCKET: notifySocket } });
    const exited = once(child, 'exit');
    t.after(() => child.kill('SIGKILL'));

    await until(1);
    assert.equal(states[0], 'READY=1');
    assert.equal(await readyCheck, 'connected');
    child.kill('SIGHUP');
    await until(3);
    assert.match(states[1]!, /^RELOADING=1\nMONOTONIC_USEC=\d+$/);
    assert.equal(states[2], 'READY=1');
    child.kill('SIGTERM');
    await until(4);
    assert.equal(states[3], 'STOPPING=1');
    assert.deepEqual(await exited, [0, null]);
  });

  test(`socket activation: a listening socket passed as fd 3 (LISTEN_PID, LISTEN_FDS) is served, nothing else is bound (workers = ${workers})`, async (t) => {
    const listening: Server = createServer();
    listening.listen(0, '127.0.0.1');
    await once(listening, 'listening');
    const { port } = listening.address() as { port: number };
    const fd = (listening as unknown as { _handle: { fd: number } })._handle.fd;
    const prepared = await prepareFacteur({ toml: `workers = ${workers}\n[inbound]\nlisten = ["127.0.0.1:${port}"]\nlisten_tls = []\n` });
    t.after(() => prepared.cleanup());

    // systemd sets LISTEN_PID to the service's own pid: a shell that execs facteur keeps its pid ($$).
    const child = spawn('/bin/sh', ['-c', `LISTEN_PID=$$ LISTEN_FDS=1 exec "${process.execPath}" "${main}" start -c "${prepared.configPath}"`], {
      stdio: ['ignore', 'ignore', 'pipe', fd],
    });
    const exited = once(child, 'exit');
    t.after(() => child.kill('SIGKILL'));
    let log = '';
    child.stderr!.setEncoding('utf8');
    const started = new Promise<void>((resolve, reject) => {
      child.stderr!.on('data', (s: string) => {
        log += s;
        if (log.includes('"event":"started"')) resolve();
      });
      child.once('exit', () => reject(new Error(`facteur exited: ${log}`)));
    });
    await started;
    listening.close(); // the test's own copy of the socket: from now on only facteur accepts on it
    assert.match(log, new RegExp(`"inbound 127\\.0\\.0\\.1:${port}"`));

    await deliverOne(port, 'through an inherited socket');
    assert.equal((await listMail(prepared.maildirRoot, 'alice')).length, 1);
    child.kill('SIGTERM');
    assert.deepEqual(await exited, [0, null]);
  });
}
