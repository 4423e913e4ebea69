// The SMTP client against real sockets: smtp-server as a real peer, a scripted peer for what it cannot be made to do.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it, type TestContext } from 'node:test';
import { silentLogger } from '../../../../src/observability/logger.js';
import {
  ClientTimeoutError,
  ConnectionLostError,
  RemoteProtocolError,
  RemoteReplyError,
  TlsHandshakeError,
} from '../../../../src/smtp/client/client-errors.js';
import { type ClientTimeouts, SmtpClient } from '../../../../src/smtp/client/smtp-client.js';
import { startScriptedPeer, startSmtpPeer, type ScriptedPeerOptions, type SmtpPeerOptions } from '../../../helpers/smtp-peer.js';

const timeouts: ClientTimeouts = { connect: 2000, greeting: 2000, command: 2000, dataInit: 2000, dataBlock: 2000, dataEnd: 2000 };

async function connect(
  t: TestContext,
  port: number,
  host = '127.0.0.1',
  overrides: Partial<ClientTimeouts> = {},
  signal?: AbortSignal,
): Promise<SmtpClient> {
  const client = await SmtpClient.connect({
    host,
    port,
    localHostname: 'client.test',
    timeouts: { ...timeouts, ...overrides },
    logger: silentLogger(),
    ...(signal === undefined ? {} : { signal }),
  });
  t.after(() => client.close());
  return client;
}

async function peer(t: TestContext, opts: SmtpPeerOptions = {}) {
  const p = await startSmtpPeer(opts);
  t.after(() => p.close());
  return p;
}

async function scripted(t: TestContext, opts: ScriptedPeerOptions) {
  const p = await startScriptedPeer(opts);
  t.after(() => p.close());
  return p;
}

/** A scripted server that accepts everything, offering the given EHLO keywords. */
const acceptAll =
  (keywords: readonly string[] = []) =>
  (line: string): string => {
    const verb = line.split(' ')[0]?.toUpperCase();
    if (verb === 'EHLO') return ['scripted.test hello', ...keywords].map((l, i, all) => `250${i === all.length - 1 ? ' ' : '-'}${l}\r\n`).join('');
    if (verb === 'DATA') return '354 go ahead\r\n';
    if (verb === 'QUIT') return '221 2.0.0 bye\r\n';
    return '250 2.0.0 ok\r\n';
  };

describe('SmtpClient: greeting and EHLO', () => {
  it('reads the greeting and the capabilities offered in EHLO', async (t) => {
    const p = await peer(t, { size: 5000, name: 'peer.test' });
    const client = await connect(t, p.port);
    assert.equal(client.greeting.code, 220);
    const caps = await client.ehlo();
    assert.equal(caps.esmtp, true);
    assert.equal(caps.sizeLimit, 5000);
    assert.equal(caps.pipelining, true);
    assert.equal(caps.eightBitMime, true);
    assert.equal(caps.smtputf8, true);
    assert.equal(caps.starttls, false);
    assert.equal(caps.has('pipelining'), true);
    await client.quit();
  });

  it('falls back to HELO when EHLO is refused with 5xx', async (t) => {
    const p = await scripted(t, {
      onCommand: (line) => (line.startsWith('EHLO') ? '502 5.5.2 EHLO? never heard of it\r\n' : acceptAll()(line)),
    });
    const client = await connect(t, p.port);
    const caps = await client.ehlo();
    assert.equal(caps.esmtp, false);
    assert.equal(caps.pipelining, false);
    const env = await client.envelope('a@client.test', [], ['b@peer.test']);
    assert.equal(env.data?.code, 354);
    assert.equal((await client.sendBody(Readable.from([Buffer.from('hi\n')]))).code, 250);
    await client.quit();
    assert.deepEqual(p.sessions[0]?.lines, [
      'EHLO client.test',
      'HELO client.test',
      'MAIL FROM:<a@client.test>',
      'RCPT TO:<b@peer.test>',
      'DATA',
      'QUIT',
    ]);
  });

  it('does not fall back to HELO on a 4xx to EHLO', async (t) => {
    const p = await scripted(t, { onCommand: (line) => (line.startsWith('EHLO') ? '451 4.3.0 later\r\n' : acceptAll()(line)) });
    const client = await connect(t, p.port);
    await assert.rejects(client.ehlo(), (err: unknown) => err instanceof RemoteReplyError && err.stage === 'ehlo' && err.reply.code === 451);
  });

  it('reads multiline replies with enhanced codes', async (t) => {
    const p = await scripted(t, {
      greeting: '220-scripted.test ESMTP\r\n220-second line\r\n220 third line\r\n',
      onCommand: (line) => {
        if (line.startsWith('RCPT')) return '550-5.1.1 No such user here\r\n550-5.1.1 Really, none\r\n550 5.1.1 Goodbye\r\n';
        return acceptAll(['PIPELINING', 'SIZE 1000000', '8BITMIME', 'ENHANCEDSTATUSCODES'])(line);
      },
    });
    const client = await connect(t, p.port);
    assert.deepEqual(client.greeting.lines, ['scripted.test ESMTP', 'second line', 'third line']);
    const caps = await client.ehlo();
    assert.deepEqual(caps.list(), ['PIPELINING', 'SIZE', '8BITMIME', 'ENHANCEDSTATUSCODES']);
    const env = await client.envelope('a@client.test', [], ['nobody@peer.test']);
    assert.deepEqual(env.rcpts[0], { code: 550, enhanced: '5.1.1', lines: ['No such user here', 'Really, none', 'Goodbye'] });
  });

  it('throws the reply when the greeting is not 220', async (t) => {
    const p = await peer(t, { greetingReply: { code: 554, text: 'go away' } });
    await assert.rejects(
      connect(t, p.port),
      (err: unknown) => err instanceof RemoteReplyError && err.stage === 'greeting' && err.reply.code === 554,
    );
  });

  it('reports a refused connection with its system code', async (t) => {
    const p = await scripted(t, { onCommand: acceptAll() });
    const port = p.port;
    await p.close();
    await assert.rejects(
      connect(t, port),
      (err: unknown) => err instanceof ConnectionLostError && err.stage === 'connect' && err.code === 'ECONNREFUSED',
    );
  });

  it('gives up on a server that never greets, after the greeting timeout', async (t) => {
    const p = await scripted(t, { greeting: '', onCommand: acceptAll() });
    await assert.rejects(
      connect(t, p.port, '127.0.0.1', { greeting: 100 }),
      (err: unknown) => err instanceof ClientTimeoutError && err.stage === 'greeting' && err.name === 'TimeoutError',
    );
  });

  it("ends a wait when the caller's signal aborts, with the signal's reason, and drops the connection", async (t) => {
    const p = await scripted(t, { onCommand: (line) => (line.startsWith('EHLO') ? null : acceptAll()(line)) });
    const controller = new AbortController();
    const client = await connect(t, p.port, '127.0.0.1', {}, controller.signal);
    const ehlo = client.ehlo();
    const reason = new Error('relay shutting down');
    controller.abort(reason);
    await assert.rejects(ehlo, (err: unknown) => err === reason);
  });

  it('a caller signal that aborts with a TimeoutError is reported as the stage timing out', async (t) => {
    const p = await scripted(t, { onCommand: (line) => (line.startsWith('EHLO') ? null : acceptAll()(line)) });
    const client = await connect(t, p.port, '127.0.0.1', {}, AbortSignal.timeout(100));
    await assert.rejects(client.ehlo(), (err: unknown) => err instanceof ClientTimeoutError && err.stage === 'ehlo');
  });

  it('refuses a malformed reply', async (t) => {
    const p = await scripted(t, { onCommand: (line) => (line.startsWith('EHLO') ? 'hello there\r\n' : acceptAll()(line)) });
    const client = await connect(t, p.port);
    await assert.rejects(client.ehlo(), RemoteProtocolError);
  });
});

describe('SmtpClient: transactions', () => {
  it('pipelines MAIL, RCPT and DATA in one write when PIPELINING is offered (RFC 2920)', async (t) => {
    // The peer answers nothing until it has seen DATA: a client waiting for each reply would hang.
    const p = await scripted(t, { onCommand: acceptAll(['PIPELINING']), holdReplies: { from: /^MAIL /, until: /^DATA$/ } });
    const client = await connect(t, p.port);
    await client.ehlo();
    const env = await client.envelope('a@client.test', ['SIZE=3'], ['b@peer.test', 'c@peer.test']);
    assert.equal(env.mail.code, 250);
    assert.deepEqual(
      env.rcpts.map((r) => r.code),
      [250, 250],
    );
    assert.equal(env.data?.code, 354);
    assert.equal((await client.sendBody(Readable.from([Buffer.from('hi\n')]))).code, 250);
    await client.quit();
  });

  it('delivers one transaction to smtp-server with pipelining', async (t) => {
    const p = await peer(t);
    const client = await connect(t, p.port);
    assert.equal((await client.ehlo()).pipelining, true);
    const env = await client.envelope('a@client.test', ['BODY=8BITMIME'], ['b@peer.test', 'c@peer.test']);
    assert.equal(env.data?.code, 354);
    const final = await client.sendBody(Readable.from([Buffer.from('Subject: hi\n\nhello\n')]));
    assert.equal(final.code, 250);
    await client.quit();
    assert.equal(p.messages.length, 1);
    assert.equal(p.messages[0]?.from, 'a@client.test');
    assert.deepEqual(p.messages[0]?.to, ['b@peer.test', 'c@peer.test']);
    assert.equal(p.messages[0]?.body.toString(), 'Subject: hi\r\n\r\nhello\r\n');
  });

  it('checks every pipelined reply, and ends an accepted DATA with a lone dot when no recipient was accepted', async (t) => {
    const p = await scripted(t, {
      onCommand: (line) => (line.startsWith('RCPT') ? '550 5.1.1 nobody\r\n' : acceptAll(['PIPELINING'])(line)),
      onData: () => '554 5.5.1 no valid recipients\r\n',
    });
    const client = await connect(t, p.port);
    await client.ehlo();
    const env = await client.envelope('a@client.test', [], ['x@peer.test']);
    assert.equal(env.rcpts[0]?.code, 550);
    assert.equal(env.data?.code, 354);
    await client.quit();
    assert.deepEqual(
      p.data.map((d) => d.length),
      [0],
    );
  });

  it('sends commands one by one without PIPELINING, and no DATA when every recipient is refused', async (t) => {
    const p = await scripted(t, { onCommand: (line) => (line.startsWith('RCPT') ? '450 4.2.0 busy\r\n' : acceptAll()(line)) });
    const client = await connect(t, p.port);
    await client.ehlo();
    const env = await client.envelope('', [], ['x@peer.test', 'y@peer.test']);
    assert.deepEqual(
      env.rcpts.map((r) => r.code),
      [450, 450],
    );
    assert.equal(env.data, null);
    await client.quit();
    assert.deepEqual(p.sessions[0]?.lines.slice(1), ['MAIL FROM:<>', 'RCPT TO:<x@peer.test>', 'RCPT TO:<y@peer.test>', 'QUIT']);
  });

  it('keeps a message with leading dots intact through smtp-server (dot-stuffing round trip)', async (t) => {
    const p = await peer(t);
    const client = await connect(t, p.port);
    await client.ehlo();
    const body = '.first line starts with a dot\n.\n..\n...three\nmiddle . dot\n.\n\n.last without newline';
    await client.envelope('a@client.test', [], ['b@peer.test']);
    // Cut into small pieces so that dots and line ends fall on chunk boundaries.
    const pieces = body.match(/.{1,3}/gs) ?? [];
    assert.equal((await client.sendBody(Readable.from(pieces.map((s) => Buffer.from(s))))).code, 250);
    await client.quit();
    assert.equal(p.messages[0]?.body.toString(), `${body.replace(/\n/g, '\r\n')}\r\n`);
  });

  it('streams a 100 KB body', async (t) => {
    const p = await peer(t);
    const client = await connect(t, p.port);
    await client.ehlo();
    await client.envelope('a@client.test', [], ['b@peer.test']);
    const line = `${'x'.repeat(98)}\n`;
    const lines = 1024;
    async function* body(): AsyncGenerator<Buffer> {
      for (let i = 0; i < lines; i++) yield Buffer.from(i % 10 === 0 ? `.${line}` : line);
    }
    assert.equal((await client.sendBody(Readable.from(body()))).code, 250);
    await client.quit();
    const got = p.messages[0]?.body.toString() ?? '';
    assert.equal(got.length, lines * 100 + Math.ceil(lines / 10));
    assert.equal(got.split('\r\n').filter((l) => l.startsWith('.')).length, Math.ceil(lines / 10));
  });

  it('drops the connection without the final dot when the body cannot be read', async (t) => {
    const p = await scripted(t, { onCommand: acceptAll() });
    const client = await connect(t, p.port);
    await client.ehlo();
    await client.envelope('a@client.test', [], ['b@peer.test']);
    async function* failing(): AsyncGenerator<Buffer> {
      yield Buffer.from('first part\n');
      throw new Error('disk on fire');
    }
    await assert.rejects(client.sendBody(Readable.from(failing())), /disk on fire/);
    await p.sessions[0]?.closed;
    assert.deepEqual(p.data, []);
  });

  it('throws a 421 whatever the step, and reports the close after it', async (t) => {
    const p = await scripted(t, {
      onCommand: (line, s) => {
        if (!line.startsWith('RCPT')) return acceptAll()(line);
        s.write('421 4.3.2 shutting down\r\n');
        return 'close';
      },
    });
    const client = await connect(t, p.port);
    await client.ehlo();
    await assert.rejects(
      client.envelope('a@client.test', [], ['b@peer.test']),
      (err: unknown) => err instanceof RemoteReplyError && err.stage === 'rcpt' && err.reply.code === 421,
    );
  });

  it('reports a connection lost after the final dot as such', async (t) => {
    const p = await scripted(t, { onCommand: acceptAll(), onData: () => 'close' });
    const client = await connect(t, p.port);
    await client.ehlo();
    await client.envelope('a@client.test', [], ['b@peer.test']);
    await assert.rejects(
      client.sendBody(Readable.from([Buffer.from('hello\n')])),
      (err: unknown) => err instanceof ConnectionLostError && err.stage === 'final-dot',
    );
    assert.equal(p.data[0]?.toString(), 'hello\r\n');
  });

  it('refuses to send an argument with a line break (command injection)', async (t) => {
    const p = await scripted(t, { onCommand: acceptAll() });
    const client = await connect(t, p.port);
    await client.ehlo();
    await assert.rejects(client.envelope('a@client.test\r\nRSET', [], ['b@peer.test']), /CR, LF or NUL/);
  });
});

describe('SmtpClient: STARTTLS', () => {
  it('starts TLS, sends EHLO again, and the peer sees a secure session', async (t) => {
    const p = await peer(t, { starttls: true });
    const client = await connect(t, p.port);
    assert.equal((await client.ehlo()).starttls, true);
    const info = await client.startTls({ servername: 'localhost' });
    assert.match(info.protocol, /^TLSv1\.[23]$/);
    assert.equal(client.tls?.protocol, info.protocol);
    // The capabilities are those of the new EHLO: smtp-server no longer offers STARTTLS inside TLS.
    assert.equal(client.capabilities.starttls, false);
    // smtp-server forgets the plain-text EHLO (RFC 3207 §4.2): MAIL is accepted only after a new one.
    const env = await client.envelope('a@client.test', [], ['b@peer.test']);
    assert.equal(env.mail.code, 250);
    assert.equal((await client.sendBody(Readable.from([Buffer.from('secret\n')]))).code, 250);
    await client.quit();
    assert.equal(p.messages[0]?.secure, true);
    assert.equal(p.messages[0]?.tlsProtocol, info.protocol);
  });

  it('reports a failed handshake as TlsHandshakeError', async (t) => {
    const p = await peer(t, { brokenTls: true });
    const client = await connect(t, p.port);
    assert.equal((await client.ehlo()).starttls, true);
    await assert.rejects(client.startTls(), TlsHandshakeError);
  });

  it('ignores replies sent in plain text after the 220 to STARTTLS (STARTTLS injection)', async (t) => {
    const p = await scripted(t, {
      onCommand: (line) => {
        if (line === 'STARTTLS') return { startTls: '220 2.0.0 go ahead\r\n250 2.0.0 injected\r\n250 2.1.0 injected\r\n' };
        if (line.startsWith('EHLO')) return p.sessions[0]?.lines.includes('STARTTLS') ? '250 secure-hello\r\n' : '250-plain-hello\r\n250 STARTTLS\r\n';
        if (line.startsWith('MAIL')) return '250 2.1.0 mail ok\r\n';
        return acceptAll()(line);
      },
    });
    const client = await connect(t, p.port);
    await client.ehlo();
    await client.startTls();
    assert.equal(client.capabilities.starttls, false);
    assert.deepEqual((await client.mail('a@client.test')).lines, ['mail ok']);
    await client.quit();
  });

  it('keeps the plain session usable after STARTTLS is refused (RFC 3207 §4)', async (t) => {
    const p = await scripted(t, {
      onCommand: (line) => (line === 'STARTTLS' ? '454 4.7.0 TLS not available\r\n' : acceptAll(['STARTTLS'])(line)),
    });
    const client = await connect(t, p.port);
    await client.ehlo();
    await assert.rejects(
      client.startTls(),
      (err: unknown) => err instanceof RemoteReplyError && err.stage === 'starttls' && err.reply.code === 454,
    );
    assert.equal((await client.mail('a@client.test')).code, 250);
    assert.equal(client.tls, null);
    await client.quit();
  });
});
