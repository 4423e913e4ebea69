// The connection cache through real sockets: reuse for the same address, stale sessions replaced, idle ones closed.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it, type TestContext } from 'node:test';
import { silentLogger } from '../../../src/observability/logger.js';
import { ConnectionCache } from '../../../src/outbound/connection-cache.js';
import type { MxResult } from '../../../src/outbound/mx-resolver.js';
import type { TransferRequest, TransferResult } from '../../../src/outbound/courier.js';
import { SmtpCourier, type SmtpCourierOptions } from '../../../src/outbound/smtp-courier.js';
import type { ClientTimeouts } from '../../../src/smtp/client/smtp-client.js';
import { type ScriptedPeer, type ScriptedSession, startScriptedPeer, startSmtpPeer } from '../../helpers/smtp-peer.js';
import { tlsPolicyOnly } from '../../helpers/outbound-tls.js';

const timeouts: ClientTimeouts = { connect: 2000, greeting: 2000, command: 2000, dataInit: 2000, dataBlock: 2000, dataEnd: 2000 };
const BODY = 'Subject: test\n\nhello\n';

function request(id: string): TransferRequest {
  return {
    id,
    domain: 'dest.test',
    reversePath: { local: 'sender', domain: 'client.test' },
    recipients: [{ local: 'alice', domain: 'dest.test' }],
    openBody: () => Readable.from([Buffer.from(BODY)]),
    size: Buffer.byteLength(BODY),
    eightBit: false,
    smtputf8: false,
  };
}

/** Courier options for one MX host on 127.0.0.1:port, without DNS, with the cache the test owns. */
async function options(port: number, cache: ConnectionCache): Promise<SmtpCourierOptions> {
  const mx: MxResult = { kind: 'hosts', hosts: [{ name: 'mx.dest.test', preference: 10, addresses: ['127.0.0.1'] }] };
  return { hostname: 'client.test', port, tlsPolicy: await tlsPolicyOnly('opportunistic'), resolver: { resolve: async () => mx }, timeouts, logger: silentLogger(), cache };
}

function newCache(t: TestContext, idleMs = 10_000): ConnectionCache {
  const cache = new ConnectionCache({ idleMs });
  t.after(() => cache.close());
  return cache;
}

/** A plain ESMTP server without PIPELINING that records every session. */
async function scripted(t: TestContext): Promise<ScriptedPeer> {
  const peer = await startScriptedPeer({
    onCommand: (line) => {
      const verb = line.slice(0, 4).toUpperCase();
      if (verb === 'EHLO') return '250-scripted.test\r\n250 8BITMIME\r\n';
      if (verb === 'DATA') return '354 go on\r\n';
      if (verb === 'QUIT') return '221 bye\r\n';
      return '250 ok\r\n';
    },
  });
  t.after(() => peer.close());
  return peer;
}

/** One attempt with a courier made of these options (the cache outlives it). */
const transfer = (req: TransferRequest, opts: SmtpCourierOptions): Promise<TransferResult> => new SmtpCourier(opts).deliver(req);
const statuses = (r: TransferResult): string[] => r.outcomes.map((o) => o.status);

describe('connection cache', () => {
  it('sends two messages to the same server on one connection, QUITs it at close', async (t) => {
    const peer = await startSmtpPeer({ starttls: true });
    t.after(() => peer.close());
    const cache = newCache(t);
    const opts = await options(peer.port, cache);
    const first = await transfer(request('q1'), opts);
    const second = await transfer(request('q2'), opts);
    assert.deepEqual([...statuses(first), ...statuses(second)], ['sent', 'sent']);
    assert.equal(peer.connections(), 1);
    assert.equal(peer.messages.length, 2);
    // Still in TLS on the reused session.
    assert.ok(peer.messages.every((m) => m.secure));
    assert.equal(second.relay?.tls, first.relay?.tls);
    assert.equal(cache.size, 1);
    await cache.close();
    assert.equal(cache.size, 0);
  });

  it('QUITs at close', async (t) => {
    const peer = await scripted(t);
    const cache = newCache(t);
    await transfer(request('q1'), await options(peer.port, cache));
    await cache.close();
    const session = peer.sessions[0] as ScriptedSession;
    await session.closed;
    assert.equal(session.lines.at(-1), 'QUIT');
  });

  it('does not use a cached connection the server closed meanwhile: a fresh one, the message sent once', async (t) => {
    const peer = await scripted(t);
    const cache = newCache(t);
    const opts = await options(peer.port, cache);
    assert.deepEqual(statuses(await transfer(request('q1'), opts)), ['sent']);
    const first = peer.sessions[0] as ScriptedSession;
    first.close();
    await first.closed;
    const result = await transfer(request('q2'), opts);
    assert.deepEqual(statuses(result), ['sent']);
    assert.equal(peer.sessions.length, 2);
    assert.equal(peer.data.length, 2);
    assert.equal(peer.sessions[1]?.lines.filter((l) => l.startsWith('MAIL')).length, 1);
  });

  it('treats a 421 sent by the server before it closed an idle session as stale', async (t) => {
    const peer = await scripted(t);
    const cache = newCache(t);
    const opts = await options(peer.port, cache);
    await transfer(request('q1'), opts);
    const first = peer.sessions[0] as ScriptedSession;
    first.write('421 4.4.2 idle timeout\r\n');
    first.end();
    const result = await transfer(request('q2'), opts);
    assert.deepEqual(statuses(result), ['sent']);
    assert.equal(peer.sessions.length, 2);
    assert.equal(peer.data.length, 2);
  });

  it('closes an idle connection after the idle time', async (t) => {
    const peer = await scripted(t);
    const cache = newCache(t, 50);
    await transfer(request('q1'), await options(peer.port, cache));
    const session = peer.sessions[0] as ScriptedSession;
    await session.closed;
    assert.equal(session.lines.at(-1), 'QUIT');
    assert.equal(cache.size, 0);
  });

  it('closes a connection after its share of transactions', async (t) => {
    const peer = await scripted(t);
    const cache = new ConnectionCache({ maxTransactions: 2 });
    t.after(() => cache.close());
    const opts = await options(peer.port, cache);
    for (const id of ['q1', 'q2', 'q3']) assert.deepEqual(statuses(await transfer(request(id), opts)), ['sent']);
    await (peer.sessions[0] as ScriptedSession).closed;
    assert.equal(peer.sessions.length, 2);
    assert.equal(peer.sessions[0]?.lines.filter((l) => l.startsWith('MAIL')).length, 2);
  });

  it('keeps the TLS verdict: a session opened under opportunistic TLS is not used where a verified certificate is needed', async (t) => {
    // The peer's certificate is self-signed, for localhost: fine for opportunistic TLS, refused under tls = "verify".
    const peer = await startSmtpPeer({ starttls: true });
    t.after(() => peer.close());
    const cache = newCache(t);
    const opportunistic = await options(peer.port, cache);
    const first = await transfer(request('q1'), opportunistic);
    assert.deepEqual(statuses(first), ['sent']);
    assert.deepEqual([first.verdict?.policy, first.verdict?.verified], ['opportunistic', false]);
    assert.equal(cache.size, 1);
    const second = await transfer(request('q2'), { ...opportunistic, tlsPolicy: await tlsPolicyOnly('verify') });
    assert.deepEqual(statuses(second), ['transient']);
    assert.match(second.outcomes[0]?.diagnostic ?? '', /^TLS policy verify refused mx\.dest\.test \[127\.0\.0\.1\]:\d+: certificate not trusted \(\w+\) \(certificate-not-trusted\)$/);
    // A fresh connection was opened for it (and refused after STARTTLS); the cached one carried nothing.
    assert.equal(peer.connections(), 2);
    assert.equal(peer.messages.length, 1);
    // The cached session went back to the cache: the next opportunistic message uses it.
    assert.deepEqual(statuses(await transfer(request('q3'), opportunistic)), ['sent']);
    assert.equal(peer.connections(), 2);
    assert.equal(peer.messages.length, 2);
  });

  it('does not use a plain-text session where TLS is required', async (t) => {
    const peer = await scripted(t);
    const cache = newCache(t);
    const opportunistic = await options(peer.port, cache);
    assert.deepEqual(statuses(await transfer(request('q1'), opportunistic)), ['sent']);
    assert.equal(cache.size, 1);
    const result = await transfer(request('q2'), { ...opportunistic, tlsPolicy: await tlsPolicyOnly('required') });
    assert.deepEqual(statuses(result), ['transient']);
    assert.match(result.outcomes[0]?.diagnostic ?? '', /no TLS: STARTTLS not offered \(starttls-not-supported\)$/);
    assert.equal(peer.sessions.length, 2);
    assert.deepEqual(peer.sessions[1]?.lines, ['EHLO client.test', 'QUIT']);
    assert.equal(peer.data.length, 1);
  });

  it('does not keep a session whose message was refused', async (t) => {
    const peer = await startScriptedPeer({
      onCommand: (line) => (line.startsWith('EHLO') ? '250 scripted.test\r\n' : line.startsWith('DATA') ? '354 go on\r\n' : line === 'QUIT' ? '221 bye\r\n' : '250 ok\r\n'),
      onData: () => '554 5.7.1 no thanks\r\n',
    });
    t.after(() => peer.close());
    const cache = newCache(t);
    const result = await transfer(request('q1'), await options(peer.port, cache));
    assert.deepEqual(statuses(result), ['permanent']);
    assert.equal(cache.size, 0);
    await (peer.sessions[0] as ScriptedSession).closed;
  });
});
