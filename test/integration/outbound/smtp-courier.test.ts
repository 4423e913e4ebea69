// One delivery attempt through real sockets: a DNS server and smtp-server peers on loopback, one port for all hosts.
import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { describe, it, type TestContext } from 'node:test';
import { pino } from 'pino';
import { type Logger, silentLogger } from '../../../src/observability/logger.js';
import { MxResolver } from '../../../src/outbound/mx-resolver.js';
import type { TransferRequest, TransferResult } from '../../../src/outbound/courier.js';
import { SmtpCourier, type SmtpCourierOptions } from '../../../src/outbound/smtp-courier.js';
import type { ClientTimeouts } from '../../../src/smtp/client/smtp-client.js';
import { startDnsServer, type Zone } from '../../helpers/dns-server.js';
import { tlsPolicyOnly } from '../../helpers/outbound-tls.js';
import { type ScriptedPeerOptions, type SmtpPeer, type SmtpPeerOptions, startScriptedPeer, startSmtpPeer } from '../../helpers/smtp-peer.js';

const timeouts: ClientTimeouts = { connect: 2000, greeting: 2000, command: 2000, dataInit: 2000, dataBlock: 2000, dataEnd: 2000 };
const BODY = 'Subject: test\n\n.a line with a dot\nhello\n';

function request(recipients: readonly string[], extra: Partial<TransferRequest> = {}): TransferRequest {
  return {
    id: 'q1',
    domain: 'dest.test',
    reversePath: { local: 'sender', domain: 'client.test' },
    recipients: recipients.map((local) => ({ local, domain: 'dest.test' })),
    openBody: () => Readable.from([Buffer.from(BODY)]),
    size: Buffer.byteLength(BODY),
    eightBit: false,
    smtputf8: false,
    ...extra,
  };
}

/** A world: the DNS zone, and peers on 127.0.0.x / ::1 sharing one port (the transfer dials one port everywhere). */
class World {
  port = 0;
  private readonly closers: (() => Promise<void>)[] = [];

  constructor(private readonly t: TestContext) {
    t.after(async () => {
      for (const close of this.closers.reverse()) await close();
    });
  }

  async peer(host: string, opts: SmtpPeerOptions = {}): Promise<SmtpPeer> {
    const p = await startSmtpPeer({ ...opts, host, port: this.port });
    this.port = p.port;
    this.closers.push(() => p.close());
    return p;
  }

  async scripted(host: string, opts: ScriptedPeerOptions) {
    const p = await startScriptedPeer({ ...opts, host, port: this.port });
    this.port = p.port;
    this.closers.push(() => p.close());
    return p;
  }

  /** One attempt; `tls` is outbound.tls (no MTA-STS or DANE here: tls-policy tests and test/system have them). */
  async run(zone: Zone, req: TransferRequest, opts: Partial<SmtpCourierOptions> & { tls?: 'opportunistic' | 'required' } = {}): Promise<TransferResult> {
    const { tls = 'opportunistic', ...rest } = opts;
    const dns = await startDnsServer(zone);
    this.closers.push(() => dns.close());
    // A port where nothing listens, for worlds made only of dead hosts.
    if (this.port === 0) this.port = 9;
    return new SmtpCourier({
      hostname: 'client.test',
      port: this.port,
      tlsPolicy: await tlsPolicyOnly(tls),
      resolver: new MxResolver({ servers: [dns.address], timeoutMs: 1000 }),
      timeouts,
      logger: silentLogger(),
      ...rest,
    }).deliver(req);
  }
}

/** A logger whose lines the test can read. */
function capturingLogger(): { logger: Logger; lines: () => Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), lines: () => lines };
}

const statuses = (r: TransferResult): string[] => r.outcomes.map((o) => `${o.recipient.local}:${o.status}`);

describe('transfer: MX walk', () => {
  it('tries hosts in preference order: a refused first host, then exactly one copy to the second, none to the third', async (t) => {
    const w = new World(t);
    const second = await w.peer('127.0.0.3');
    const third = await w.peer('127.0.0.4');
    const result = await w.run(
      {
        'dest.test': {
          MX: [
            { exchange: 'mx3.dest.test', priority: 30 },
            { exchange: 'mx1.dest.test', priority: 10 },
            { exchange: 'mx2.dest.test', priority: 20 },
          ],
        },
        'mx1.dest.test': { A: ['127.0.0.2'] },
        'mx2.dest.test': { A: ['127.0.0.3'] },
        'mx3.dest.test': { A: ['127.0.0.4'] },
      },
      request(['alice', 'bob']),
    );
    assert.deepEqual(statuses(result), ['alice:sent', 'bob:sent']);
    assert.equal(second.messages.length, 1);
    assert.deepEqual(second.messages[0]?.to, ['alice@dest.test', 'bob@dest.test']);
    assert.equal(second.messages[0]?.from, 'sender@client.test');
    assert.equal(second.messages[0]?.body.toString(), BODY.replace(/\n/g, '\r\n'));
    assert.equal(third.connections(), 0);
    assert.deepEqual(result.relay, { host: 'mx2.dest.test', ip: '127.0.0.3', tls: null });
    assert.equal(result.outcomes[0]?.remoteMta, 'mx2.dest.test');
    assert.match(result.outcomes[0]?.diagnostic ?? '', /^250 /);
  });

  it('tries the AAAA address before the A address', async (t) => {
    const w = new World(t);
    const v6 = await w.peer('::1');
    const v4 = await w.peer('127.0.0.5');
    const result = await w.run(
      { 'dest.test': { MX: [{ exchange: 'mx.dest.test', priority: 10 }] }, 'mx.dest.test': { A: ['127.0.0.5'], AAAA: ['::1'] } },
      request(['alice']),
    );
    assert.deepEqual(statuses(result), ['alice:sent']);
    assert.equal(v6.messages.length, 1);
    assert.equal(v4.connections(), 0);
    assert.equal(result.relay?.ip, '::1');
  });

  it('falls back to IPv4 when the IPv6 address is down', async (t) => {
    const w = new World(t);
    const v4 = await w.peer('127.0.0.5');
    const result = await w.run(
      { 'dest.test': { MX: [{ exchange: 'mx.dest.test', priority: 10 }] }, 'mx.dest.test': { A: ['127.0.0.5'], AAAA: ['::1'] } },
      request(['alice']),
    );
    assert.deepEqual(statuses(result), ['alice:sent']);
    assert.equal(v4.messages.length, 1);
    assert.equal(result.relay?.ip, '127.0.0.5');
  });

  it('uses the implicit MX (the domain itself) when there is no MX record', async (t) => {
    const w = new World(t);
    const p = await w.peer('127.0.0.6');
    const result = await w.run({ 'dest.test': { A: ['127.0.0.6'] } }, request(['alice']));
    assert.deepEqual(statuses(result), ['alice:sent']);
    assert.equal(p.messages.length, 1);
    assert.equal(result.relay?.host, 'dest.test');
  });

  it('delivers to an address literal without DNS', async (t) => {
    const w = new World(t);
    const p = await w.peer('127.0.0.7');
    const result = await w.run({}, { ...request(['alice']), domain: '[127.0.0.7]', recipients: [{ local: 'alice', domain: '[127.0.0.7]' }] });
    assert.deepEqual(statuses(result), ['alice:sent']);
    assert.deepEqual(p.messages[0]?.to, ['alice@[127.0.0.7]']);
  });

  it('is transient for every recipient when no host answers, with the reason', async (t) => {
    const w = new World(t);
    const result = await w.run(
      { 'dest.test': { MX: [{ exchange: 'mx1.dest.test', priority: 10 }] }, 'mx1.dest.test': { A: ['127.0.0.2'] } },
      request(['alice', 'bob']),
    );
    assert.deepEqual(statuses(result), ['alice:transient', 'bob:transient']);
    assert.match(result.outcomes[0]?.diagnostic ?? '', /^connection refused by mx1\.dest\.test \[127\.0\.0\.2\]:\d+$/);
    assert.equal(result.outcomes[0]?.remoteMta, null);
    assert.equal(result.relay, null);
  });

  it('is permanent on NXDOMAIN and transient on SERVFAIL, without connecting', async (t) => {
    const w = new World(t);
    const p = await w.peer('127.0.0.2');
    const nx = await w.run({}, request(['alice']));
    assert.deepEqual(statuses(nx), ['alice:permanent']);
    assert.match(nx.outcomes[0]?.diagnostic ?? '', /does not exist/);
    const sf = await w.run({ 'dest.test': { servfail: true } }, request(['alice']));
    assert.deepEqual(statuses(sf), ['alice:transient']);
    assert.equal(p.connections(), 0);
  });

  it('moves on to the next host after a 4xx greeting', async (t) => {
    const w = new World(t);
    const busy = await w.peer('127.0.0.2', { greetingReply: { code: 421, text: 'too busy' } });
    const ok = await w.peer('127.0.0.3');
    const result = await w.run(
      {
        'dest.test': { MX: [{ exchange: 'mx1.dest.test', priority: 10 }, { exchange: 'mx2.dest.test', priority: 20 }] },
        'mx1.dest.test': { A: ['127.0.0.2'] },
        'mx2.dest.test': { A: ['127.0.0.3'] },
      },
      request(['alice']),
    );
    assert.deepEqual(statuses(result), ['alice:sent']);
    assert.equal(busy.messages.length, 0);
    assert.equal(ok.messages.length, 1);
  });
});

describe('transfer: TLS', () => {
  const zone: Zone = {
    'dest.test': { MX: [{ exchange: 'mx1.dest.test', priority: 10 }, { exchange: 'mx2.dest.test', priority: 20 }] },
    'mx1.dest.test': { A: ['127.0.0.2'] },
    'mx2.dest.test': { A: ['127.0.0.3'] },
  };

  it('uses STARTTLS when offered', async (t) => {
    const w = new World(t);
    const p = await w.peer('127.0.0.2', { starttls: true });
    const result = await w.run(zone, request(['alice']));
    assert.deepEqual(statuses(result), ['alice:sent']);
    assert.equal(p.messages[0]?.secure, true);
    assert.match(result.relay?.tls ?? '', /^TLSv1\.[23]$/);
    assert.deepEqual(p.mails.map((m) => m.secure), [true]);
  });

  it('opportunistic: after a broken handshake, delivers to the same address in plain text, and says so', async (t) => {
    const w = new World(t);
    const p = await w.peer('127.0.0.2', { brokenTls: true });
    const second = await w.peer('127.0.0.3');
    const { logger, lines } = capturingLogger();
    const result = await w.run(zone, request(['alice']), { logger });
    assert.deepEqual(statuses(result), ['alice:sent']);
    assert.equal(p.connections(), 2);
    assert.equal(p.messages.length, 1);
    assert.equal(p.messages[0]?.secure, false);
    assert.equal(second.connections(), 0);
    assert.deepEqual(result.relay, { host: 'mx1.dest.test', ip: '127.0.0.2', tls: null });
    const warning = lines().find((l) => l['level'] === 40 && /plain text/.test(String(l['msg'])));
    assert.ok(warning, 'a warning about the plain-text retry');
    // The plain-text session carries the verdict of the failed handshake, in the result and on the host's line.
    assert.deepEqual([result.verdict?.policy, result.verdict?.verified, result.verdict?.failure], ['opportunistic', false, 'validation-failure']);
    assert.match(result.verdict?.reason ?? '', /^TLS handshake failed: /);
    const line = lines().find((l) => l['msg'] === 'delivery attempt' && l['step'] === 'done');
    assert.deepEqual([line?.['tls_policy'], line?.['verified'], line?.['tls_failure']], ['opportunistic', false, 'validation-failure']);
  });

  it('opportunistic: continues in plain text on the same connection when STARTTLS is refused', async (t) => {
    const w = new World(t);
    const p = await w.scripted('127.0.0.2', {
      onCommand: (line) => {
        if (line.startsWith('EHLO')) return '250-mx1 hello\r\n250 STARTTLS\r\n';
        if (line === 'STARTTLS') return '454 4.7.0 TLS not available\r\n';
        if (line === 'DATA') return '354 go\r\n';
        return '250 2.0.0 ok\r\n';
      },
    });
    const result = await w.run(zone, request(['alice']));
    assert.deepEqual(statuses(result), ['alice:sent']);
    assert.equal(p.sessions.length, 1);
    assert.equal(p.data.length, 1);
  });

  it('required: a broken handshake is transient for this host and nothing goes out in plain text', async (t) => {
    const w = new World(t);
    const p = await w.peer('127.0.0.2', { brokenTls: true });
    const result = await w.run({ ...zone, 'dest.test': { MX: [{ exchange: 'mx1.dest.test', priority: 10 }] } }, request(['alice']), {
      tls: 'required',
    });
    assert.deepEqual(statuses(result), ['alice:transient']);
    assert.match(result.outcomes[0]?.diagnostic ?? '', /^TLS policy opportunistic with tls = "required" refused mx1\.dest\.test \[127\.0\.0\.2\]:\d+: TLS handshake failed: .* \(validation-failure\)$/);
    assert.equal(result.verdict?.action, 'next-host');
    assert.equal(p.connections(), 1);
    assert.deepEqual(p.mails, []);
    assert.equal(result.relay, null);
  });

  it('required: a host without STARTTLS is skipped for the next host, which has it', async (t) => {
    const w = new World(t);
    const plain = await w.peer('127.0.0.2');
    const secure = await w.peer('127.0.0.3', { starttls: true });
    const result = await w.run(zone, request(['alice']), { tls: 'required' });
    assert.deepEqual(statuses(result), ['alice:sent']);
    assert.deepEqual(plain.mails, []);
    assert.equal(secure.messages[0]?.secure, true);
    assert.equal(result.relay?.host, 'mx2.dest.test');
  });

  it('required: no host with TLS means transient, never plain text', async (t) => {
    const w = new World(t);
    const first = await w.peer('127.0.0.2');
    const second = await w.peer('127.0.0.3');
    const result = await w.run(zone, request(['alice', 'bob']), { tls: 'required' });
    assert.deepEqual(statuses(result), ['alice:transient', 'bob:transient']);
    assert.match(result.outcomes[0]?.diagnostic ?? '', /^TLS policy opportunistic with tls = "required" refused mx2\.dest\.test \[127\.0\.0\.3\]:\d+: no TLS: STARTTLS not offered \(starttls-not-supported\)$/);
    assert.deepEqual([...first.mails, ...second.mails], []);
  });
});

describe('transfer: replies', () => {
  const zone: Zone = {
    'dest.test': { MX: [{ exchange: 'mx1.dest.test', priority: 10 }, { exchange: 'mx2.dest.test', priority: 20 }] },
    'mx1.dest.test': { A: ['127.0.0.2'] },
    'mx2.dest.test': { A: ['127.0.0.3'] },
  };

  it('gives each recipient its own outcome: 250 sent, 450 transient, 550 permanent', async (t) => {
    const w = new World(t);
    const p = await w.peer('127.0.0.2', {
      rcptReply: (to) =>
        to.startsWith('later@') ? { code: 450, text: 'mailbox busy' } : to.startsWith('nobody@') ? { code: 550, text: 'no such user' } : undefined,
    });
    const second = await w.peer('127.0.0.3');
    const result = await w.run(zone, request(['ok', 'later', 'nobody']));
    assert.deepEqual(statuses(result), ['ok:sent', 'later:transient', 'nobody:permanent']);
    assert.match(result.outcomes[1]?.diagnostic ?? '', /^450 .*mailbox busy/);
    assert.match(result.outcomes[2]?.diagnostic ?? '', /^550 .*no such user/);
    assert.equal(result.outcomes[2]?.remoteMta, 'mx1.dest.test');
    assert.deepEqual(p.messages[0]?.to, ['ok@dest.test']);
    // The first host took the transaction: the walk ends there, even for the 4xx recipient.
    assert.equal(second.connections(), 0);
  });

  it('applies a 4xx after the final dot to every accepted recipient, and does not try another host', async (t) => {
    const w = new World(t);
    await w.peer('127.0.0.2', { dataReply: () => ({ code: 451, text: 'local problem' }) });
    const second = await w.peer('127.0.0.3');
    const result = await w.run(zone, request(['alice', 'bob']));
    assert.deepEqual(statuses(result), ['alice:transient', 'bob:transient']);
    assert.match(result.outcomes[0]?.diagnostic ?? '', /^451 .*local problem/);
    assert.equal(result.relay, null);
    assert.equal(second.connections(), 0);
  });

  it('applies a 5xx after the final dot to every accepted recipient', async (t) => {
    const w = new World(t);
    await w.peer('127.0.0.2', { dataReply: () => ({ code: 554, text: 'spam' }) });
    const result = await w.run(zone, request(['alice']));
    assert.deepEqual(statuses(result), ['alice:permanent']);
  });

  it('moves on to the next host when every recipient gets a 4xx', async (t) => {
    const w = new World(t);
    const first = await w.peer('127.0.0.2', { rcptReply: () => ({ code: 451, text: 'greylisted' }) });
    const second = await w.peer('127.0.0.3');
    const result = await w.run(zone, request(['alice', 'bob']));
    assert.deepEqual(statuses(result), ['alice:sent', 'bob:sent']);
    assert.equal(first.messages.length, 0);
    assert.equal(second.messages.length, 1);
  });

  it('settles 5xx recipients at once and takes the 4xx ones to the next host', async (t) => {
    const w = new World(t);
    await w.peer('127.0.0.2', { rcptReply: (to) => (to.startsWith('gone@') ? { code: 550, text: 'gone' } : { code: 451, text: 'later' }) });
    const second = await w.peer('127.0.0.3');
    const result = await w.run(zone, request(['gone', 'alice']));
    assert.deepEqual(statuses(result), ['gone:permanent', 'alice:sent']);
    assert.deepEqual(second.messages[0]?.to, ['alice@dest.test']);
  });

  it('moves on to the next host after a 4xx to MAIL', async (t) => {
    const w = new World(t);
    await w.peer('127.0.0.2', { mailReply: () => ({ code: 451, text: 'try later' }) });
    const second = await w.peer('127.0.0.3');
    const result = await w.run(zone, request(['alice']));
    assert.deepEqual(statuses(result), ['alice:sent']);
    assert.equal(second.messages.length, 1);
  });

  it('fails every recipient for good after a 5xx to MAIL, without trying another host', async (t) => {
    const w = new World(t);
    await w.peer('127.0.0.2', { mailReply: () => ({ code: 553, text: 'sender refused' }) });
    const second = await w.peer('127.0.0.3');
    const result = await w.run(zone, request(['alice', 'bob']));
    assert.deepEqual(statuses(result), ['alice:permanent', 'bob:permanent']);
    assert.match(result.outcomes[0]?.diagnostic ?? '', /^553 .*sender refused/);
    assert.equal(second.connections(), 0);
  });

  it('fails permanently, without MAIL, when the message is bigger than the SIZE advertised', async (t) => {
    const w = new World(t);
    const p = await w.peer('127.0.0.2', { size: 10 });
    const result = await w.run(zone, request(['alice', 'bob']));
    assert.deepEqual(statuses(result), ['alice:permanent', 'bob:permanent']);
    assert.match(result.outcomes[0]?.diagnostic ?? '', /^552 5\.3\.4 message too big for remote server/);
    assert.deepEqual(p.mails, []);
  });

  it('declares SIZE and BODY=8BITMIME when offered', async (t) => {
    const w = new World(t);
    const p = await w.peer('127.0.0.2', { size: 100000 });
    const result = await w.run(zone, request(['alice'], { eightBit: true }));
    assert.deepEqual(statuses(result), ['alice:sent']);
    assert.equal(p.messages[0]?.params['SIZE'], String(Buffer.byteLength(BODY)));
    assert.equal(p.messages[0]?.params['BODY'], '8BITMIME');
  });

  it('fails permanently with 5.6.7 when the message needs SMTPUTF8 and the server lacks it', async (t) => {
    const w = new World(t);
    const p = await w.peer('127.0.0.2', { smtputf8: false });
    const result = await w.run(zone, request(['alice'], { smtputf8: true }));
    assert.deepEqual(statuses(result), ['alice:permanent']);
    assert.match(result.outcomes[0]?.diagnostic ?? '', /^553 5\.6\.7 /);
    assert.deepEqual(p.mails, []);
  });

  it('is transient, and tries no other host, when the connection is lost after the final dot', async (t) => {
    const w = new World(t);
    const p = await w.scripted('127.0.0.2', {
      onCommand: (line) => (line === 'DATA' ? '354 go\r\n' : line.startsWith('EHLO') ? '250 mx1\r\n' : '250 ok\r\n'),
      onData: () => 'close',
    });
    const second = await w.peer('127.0.0.3');
    const result = await w.run(zone, request(['alice']));
    assert.deepEqual(statuses(result), ['alice:transient']);
    assert.match(result.outcomes[0]?.diagnostic ?? '', /after the final dot; the message may have been delivered/);
    assert.equal(p.data.length, 1);
    assert.equal(second.connections(), 0);
  });

  it('takes a refusal sent in the middle of the data as the final reply', async (t) => {
    const w = new World(t);
    await w.scripted('127.0.0.2', {
      onCommand: (line, s) => {
        if (line.startsWith('EHLO')) return '250 mx1\r\n';
        if (line !== 'DATA') return '250 ok\r\n';
        s.write('354 go\r\n552 5.3.4 this is far too big\r\n');
        s.end();
        return null;
      },
    });
    const big = `${'y'.repeat(1023)}\n`.repeat(4096);
    const result = await w.run(zone, request(['alice'], { openBody: () => Readable.from([Buffer.from(big)]), size: big.length }));
    assert.deepEqual(statuses(result), ['alice:permanent']);
    assert.equal(result.outcomes[0]?.diagnostic, '552 5.3.4 this is far too big');
  });

  it('is transient, with a local reason, when the body cannot be read; the peer gets no message', async (t) => {
    const w = new World(t);
    const p = await w.peer('127.0.0.2');
    const result = await w.run(
      zone,
      request(['alice'], {
        openBody: () =>
          Readable.from(
            (async function* () {
              yield Buffer.from('start\n');
              throw new Error('queue file vanished');
            })(),
          ),
      }),
    );
    assert.deepEqual(statuses(result), ['alice:transient']);
    assert.match(result.outcomes[0]?.diagnostic ?? '', /^local error: queue file vanished/);
    assert.equal(p.messages.length, 0);
  });
});
