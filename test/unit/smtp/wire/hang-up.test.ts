// Tests of hangUp over real loopback sockets: the last reply always reaches the peer, then the connection ends,
// either by a half-close (the default) or, after QUIT, by closing as soon as the reply is written.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createConnection, createServer, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { hangUp } from '../../../../src/smtp/wire/hang-up.js';

/** A connected pair: `server` is the accepted socket, `client` the connecting one. */
async function socketPair(): Promise<{ server: Socket; client: Socket; close: () => void }> {
  const listener = createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const { port } = listener.address() as { port: number };
  const accepted = once(listener, 'connection') as Promise<[Socket]>;
  const client = createConnection({ host: '127.0.0.1', port });
  const [server] = await accepted;
  server.on('error', () => undefined);
  client.on('error', () => undefined);
  return { server, client, close: () => listener.close() };
}

/** Everything the client reads until the server's side ends. */
async function readAll(client: Socket): Promise<string> {
  let text = '';
  client.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
  await once(client, 'end');
  return text;
}

describe('hangUp', () => {
  it('closes at once after the last reply is written when told closeOnceWritten, without waiting for the peer', async () => {
    const { server, client, close } = await socketPair();
    const received = readAll(client);
    const closed = once(server, 'close');
    hangUp(server, server, { last: '221 2.0.0 bye\r\n', closeOnceWritten: true });
    // The server's socket closes by itself: the client has not closed its side yet.
    await closed;
    assert.equal(await received, '221 2.0.0 bye\r\n');
    client.destroy();
    close();
  });

  it('with closeOnceWritten, a reply the kernel cannot take at once is written to its end before the close', async () => {
    const { server, client, close } = await socketPair();
    const big = `${'x'.repeat(8 * 1024 * 1024)}\r\n221 2.0.0 bye\r\n`;
    const received = readAll(client);
    const closed = once(server, 'close');
    hangUp(server, server, { last: big, closeOnceWritten: true });
    assert.ok(server.writableLength > 0, 'more than the socket buffers take at once');
    assert.equal((await received).length, big.length);
    await closed;
    client.destroy();
    close();
  });

  it('a peer that resets right after reading the reply causes no error on our side with closeOnceWritten', async () => {
    const { server, client, close } = await socketPair();
    const errors: unknown[] = [];
    server.removeAllListeners('error');
    server.on('error', (err) => errors.push(err));
    client.once('data', () => client.resetAndDestroy());
    const closed = once(server, 'close');
    hangUp(server, server, { last: '221 2.0.0 bye\r\n', closeOnceWritten: true });
    await closed;
    assert.deepEqual(errors, []);
    close();
  });

  it('by default half-closes: the reply then EOF reach the peer, and our socket closes once the peer closes', async () => {
    const { server, client, close } = await socketPair();
    const received = readAll(client);
    hangUp(server, server, { last: '421 4.3.2 going away\r\n' });
    assert.equal(await received, '421 4.3.2 going away\r\n');
    assert.equal(server.destroyed, false, 'still open until the peer closes its side');
    client.end();
    await once(server, 'close');
    close();
  });
});
