// The rspamd check against stand-ins on loopback: what it sends (headers, CRLF text), and what it does when rspamd
// is down, silent, failing or babbling: accept (logged), or defer with 451 4.7.1 when fail = "defer".
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { after, describe, test } from 'node:test';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import type { Envelope, SessionInfo } from '../../../src/delivery.js';
import { RspamdCheck } from '../../../src/rspamd/rspamd-check.js';

const envelope: Envelope = {
  reversePath: null,
  recipients: [
    { local: 'alice', domain: 'example.org' },
    { local: 'josé', domain: 'exämple.org' },
  ],
  eightBit: true,
  smtputf8: true,
  declaredSize: null,
};
const session: SessionInfo & { user: string } = {
  id: 'S9',
  remoteAddress: '192.0.2.7',
  remotePort: 40000,
  localAddress: '127.0.0.1',
  localPort: 25,
  heloName: 'client.example.net',
  esmtp: true,
  tls: { protocol: 'TLSv1.3', cipher: 'TLS_AES_128_GCM_SHA256' },
  user: 'bob',
};
const TEXT = 'Subject: hi\n\nline one\n.dot line\n\nend\n';

/** An HTTP server on loopback answering each request with `respond`; the requests it got. */
async function stub(respond: (body: Buffer, res: import('node:http').ServerResponse) => void): Promise<{ url: string; requests: { headers: IncomingHttpHeaders; raw: string[]; body: Buffer }[]; server: Server }> {
  const requests: { headers: IncomingHttpHeaders; raw: string[]; body: Buffer }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      requests.push({ headers: req.headers, raw: req.rawHeaders, body });
      respond(body, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, requests, server };
}

/** A check whose log lines are kept, to see the failures it reports. */
function check(url: string, fail: 'accept' | 'defer' = 'accept', timeoutMs = 5000): { check: RspamdCheck; log: Record<string, unknown>[] } {
  const log: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') log.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const c = new RspamdCheck({ url, timeoutMs, fail, spamToJunk: true, hostname: 'mx.test', logger: pino({ level: 'info' }, sink) });
  after(() => c.close());
  return { check: c, log };
}

async function run(c: RspamdCheck, text = TEXT) {
  const r = c.start(envelope, session);
  for (const part of [text.slice(0, 5), text.slice(5, 17), text.slice(17)]) await r.write(Buffer.from(part));
  return r.finish();
}

const ANSWER = JSON.stringify({ action: 'no action', score: 0.5, required_score: 15, milter: { add_headers: { 'X-Spam-Status': { value: 'No, score=0.50', order: -1 } } } });

describe('what the check sends rspamd', () => {
  test('POST /checkv2 with the envelope and connection as headers, the text with CRLF line endings', async () => {
    const s = await stub((_b, res) => res.end(ANSWER));
    const { check: c } = check(`${s.url}/`);
    const v = await run(c);
    assert.deepEqual(v, { action: 'accept', headers: ['X-Spam-Status: No, score=0.50'], removeHeaders: [] });
    const [req] = s.requests;
    assert.equal(req!.body.toString('utf8'), 'Subject: hi\r\n\r\nline one\r\n.dot line\r\n\r\nend\r\n');
    const h = req!.headers;
    assert.equal(h.from, '<>');
    assert.equal(h.ip, '192.0.2.7');
    assert.equal(h.helo, 'client.example.net');
    assert.equal(h['queue-id'], 'S9');
    assert.equal(h.user, 'bob');
    assert.equal(h['tls-version'], 'TLSv1.3');
    assert.equal(h['tls-cipher'], 'TLS_AES_128_GCM_SHA256');
    assert.equal(h['mta-name'], 'mx.test');
    assert.equal(h.hostname, undefined); // rspamd looks the PTR up itself
    assert.equal(h['transfer-encoding'], 'chunked');
    // One Rcpt header per recipient, UTF-8 addresses as their bytes.
    const rcpts = req!.raw.flatMap((v, i) => (i % 2 === 0 && v.toLowerCase() === 'rcpt' ? [Buffer.from(req!.raw[i + 1]!, 'latin1').toString('utf8')] : []));
    assert.deepEqual(rcpts, ['alice@example.org', 'josé@exämple.org']);
  });
});

describe('when rspamd cannot answer', () => {
  const cases: [string, () => Promise<string>, number][] = [
    ['is down (connection refused)', async () => `http://127.0.0.1:${await closedPort()}`, 5000],
    ['does not answer in time', async () => (await stub(() => undefined)).url, 200],
    ['answers HTTP 500', async () => (await stub((_b, res) => res.writeHead(500).end('{"error":"internal"}'))).url, 5000],
    ['answers something else than its JSON', async () => (await stub((_b, res) => res.end('<html>proxy error</html>'))).url, 5000],
    ['answers more than 1 MiB', async () => (await stub((_b, res) => res.end(`{"action":"no action","x":"${'a'.repeat(2 * 1024 * 1024)}"}`))).url, 5000],
  ];
  for (const [name, url, timeoutMs] of cases) {
    test(`rspamd ${name}: accepted and logged; deferred with 451 4.7.1 when fail = "defer"`, async () => {
      const target = await url();
      const accept = check(target, 'accept', timeoutMs);
      assert.deepEqual(await run(accept.check), { action: 'accept', headers: [] });
      assert.ok(accept.log.some((l) => l.event === 'rspamd-failed' && l.then === 'accept'), JSON.stringify(accept.log));
      const defer = check(target, 'defer', timeoutMs);
      const v = await run(defer.check);
      assert.equal(v.action, 'defer');
      assert.equal(`${v.reply?.code} ${v.reply?.enhanced}`, '451 4.7.1');
    });
  }

  test('rspamd that stops reading the message: the wait for it is bounded, the message accepted', async () => {
    const sockets: import('node:net').Socket[] = [];
    const silent = createTcpServer((socket) => {
      socket.pause(); // reads nothing: the kernel buffers fill and our writes must wait
      sockets.push(socket);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    after(() => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => silent.close(() => resolve()));
    });
    const { check: c, log } = check(`http://127.0.0.1:${(silent.address() as { port: number }).port}`, 'accept', 200);
    const r = c.start(envelope, session);
    const block = Buffer.from(`${'x'.repeat(1023)}\n`.repeat(64));
    for (let i = 0; i < 1024; i++) await r.write(block); // 64 MiB offered: far more than the socket buffers hold
    assert.deepEqual(await r.finish(), { action: 'accept', headers: [] });
    assert.match(String(log.find((l) => l.event === 'rspamd-failed')?.reason), /rspamd took nothing for 200 ms/);
  });

  test('aborting a run (the message is refused) drops the request', async () => {
    let got = 0;
    const s = await stub((_b, res) => {
      got += 1;
      res.end(ANSWER);
    });
    const { check: c } = check(s.url);
    const r = c.start(envelope, session);
    await r.write(Buffer.from(TEXT));
    r.abort();
    assert.equal((await run(c)).action, 'accept'); // the next message is checked as usual
    assert.equal(got, 1);
  });
});

/** A port on 127.0.0.1 that nobody listens on. */
async function closedPort(): Promise<number> {
  const s = createTcpServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}
