// The relay serves the local host only: a non-loopback listen address is a config error, a non-loopback peer gets 421.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Delivery } from '../../src/delivery.js';
import { silentLogger } from '../../src/observability/logger.js';
import { normalizeIp } from '../../src/smtp/server/connection.js';
import { isLoopbackIp } from '../../src/net/loopback.js';
import { SmtpServer } from '../../src/smtp/server/listener.js';
import type { ServerContext } from '../../src/smtp/server/server-context.js';
import { prepareFacteur, runCli, type PreparedFacteur } from './helpers/facteur.js';
import { SmtpDialog } from './helpers/smtp-dialog.js';

describe('a non-loopback outbound.listen is a config error', () => {
  const configs = new Map<string, PreparedFacteur>();
  before(async () => {
    for (const listen of ['0.0.0.0:2587', '192.0.2.1:25', '[::]:2587']) {
      configs.set(listen, await prepareFacteur({ outbound: true, toml: `[outbound]\nlisten = ["127.0.0.1:0", "${listen}"]` }));
    }
  });
  after(async () => {
    for (const p of configs.values()) await p.cleanup();
  });

  for (const listen of ['0.0.0.0:2587', '192.0.2.1:25', '[::]:2587']) {
    test(`check-config with ${listen}: exit 2 and a "FILE: outbound.listen: ..." line`, async () => {
      const { configPath } = configs.get(listen)!;
      const r = await runCli(['check-config', '-c', configPath]);
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.equal(r.stdout, '');
      const line = `${configPath}: outbound.listen: "${listen}" is not a loopback address`;
      assert.ok(r.stderr.split('\n').some((l) => l.startsWith(line)), r.stderr);
    });
  }

  test('facteur start with 0.0.0.0:2587: exit 2 before listening on anything', async () => {
    const { configPath } = configs.get('0.0.0.0:2587')!;
    const r = await runCli(['start', '-c', configPath]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /outbound\.listen.*not a loopback address/);
    assert.doesNotMatch(r.stderr, /"event":"started"/);
  });
});

describe('the relay refuses a peer that is not on loopback', () => {
  const delivered: string[] = [];
  const delivery: Delivery = {
    acceptRecipient: async () => undefined,
    open: async () => {
      delivered.push('open');
      throw new Error('a refused peer must never reach the delivery');
    },
  };
  const ctx: ServerContext = {
    name: 'outbound',
    hostname: 'relay.test',
    delivery,
    limits: { maxMessageSize: 1024 * 1024, maxRecipients: 100, maxConnections: 10, maxLineLength: 2048, maxErrors: 20 },
    timeouts: { command: 5000, data: 5000, tlsHandshake: 5000, shutdownGrace: 1000 },
    tls: null,
    logger: silentLogger(),
    now: () => new Date(),
  };
  let server: SmtpServer;
  const peers: string[] = [];
  before(async () => {
    // What the relay would do for a connection from 192.0.2.7: the loopback test connection plays that peer.
    server = new SmtpServer(ctx, {
      acceptPeer: (ip) => {
        peers.push(ip);
        return false;
      },
    });
    await server.listen([{ host: '127.0.0.1', port: 0, text: '127.0.0.1:0' }], false);
  });
  after(() => server.close());

  test('acceptPeer saying no: 421 4.7.0 instead of the greeting, then the connection is closed', async (t) => {
    const d = await SmtpDialog.connect(server.addresses()[0]!.port);
    t.after(() => d.close());
    const r = await d.expect(421, '4.7.0');
    assert.match(r.lines[0] ?? '', /^421 4\.7\.0 /);
    await d.expectClosed();
    assert.deepEqual(peers, ['127.0.0.1'], 'asked about the peer address, normalised');
    assert.deepEqual(delivered, []);
    assert.equal(server.connectionCount, 0);
  });

  test('isLoopbackIp (after normalizeIp): 127.0.0.0/8 and ::1 only', () => {
    const cases: [string, boolean][] = [
      ['127.0.0.1', true],
      ['127.8.9.10', true],
      ['127.255.255.254', true],
      ['::1', true],
      ['::ffff:127.0.0.1', true],
      ['::ffff:127.1.2.3', true],
      ['10.0.0.1', false],
      ['::', false],
      ['0.0.0.0', false],
      ['192.0.2.1', false],
      ['::ffff:10.0.0.1', false],
      ['::ffff:192.0.2.1', false],
      ['128.0.0.1', false],
      ['2001:db8::1', false],
      ['fe80::1', false],
      ['', false],
    ];
    for (const [ip, expected] of cases) assert.equal(isLoopbackIp(normalizeIp(ip)), expected, ip);
  });
});
