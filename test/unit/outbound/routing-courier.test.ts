// RoutingCourier: our own domains go to the local courier, every other one to the remote courier.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TransferRequest } from '../../../src/outbound/courier.js';
import { RoutingCourier } from '../../../src/outbound/routing-courier.js';
import { addr, allWith, FakeCourier, SAMPLE_BODY } from '../../helpers/queue-fixtures.js';

function request(domain: string): TransferRequest {
  return {
    id: 'q1',
    domain,
    reversePath: addr('sender@origin.test'),
    recipients: [addr(`alice@${domain}`)],
    openBody: () => [Buffer.from(SAMPLE_BODY)],
    size: Buffer.byteLength(SAMPLE_BODY),
    eightBit: false,
    smtputf8: false,
  };
}

test('our domains go to the local courier, the others (and all when there is none) to the remote one', async () => {
  const local = new FakeCourier((req) => allWith(req, 'sent', '250 local'));
  const remote = new FakeCourier((req) => allWith(req, 'sent', '250 remote'));
  const routed = new RoutingCourier({ local, remote, isLocal: (d) => d === 'here.test' });
  assert.equal((await routed.deliver(request('here.test'))).outcomes[0]?.diagnostic, '250 local');
  assert.equal((await routed.deliver(request('far.test'))).outcomes[0]?.diagnostic, '250 remote');
  const remoteOnly = new RoutingCourier({ local: null, remote, isLocal: () => true });
  assert.equal((await remoteOnly.deliver(request('here.test'))).outcomes[0]?.diagnostic, '250 remote');
  assert.deepEqual([local.calls.length, remote.calls.length], [1, 2]);
});
