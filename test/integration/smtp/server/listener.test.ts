// SmtpServer on a real socket: a peer that acceptPeer refuses (the relay's loopback rule) gets 421 and never a delivery.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Delivery } from '../../../../src/delivery.js';
import { silentLogger } from '../../../../src/observability/logger.js';
import { SmtpServer } from '../../../../src/smtp/server/listener.js';
import { Metrics } from '../../../../src/observability/metrics.js';
import type { ServerContext } from '../../../../src/smtp/server/server-context.js';
import { SmtpDialog } from '../../../helpers/smtp-dialog.js';

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
    limits: { maxMessageSize: 1024 * 1024, maxRecipients: 100, maxConnections: 10, maxIdleCommands: 100, maxSessionTime: 3_600_000, maxLineLength: 2048, maxErrors: 20 },
    timeouts: { command: 5000, data: 5000, tlsHandshake: 5000, greetPause: 0, shutdownGrace: 1000 },
    tls: null,
    logger: silentLogger(),
    now: () => new Date(),
    clientLimits: null,
    metrics: new Metrics(),
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
});
