// MX answers remembered for a while: asked once per domain within the lifetime, failures never remembered.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { MxResolver } from '../../../src/outbound/mx-resolver.js';
import { type DnsServer, startDnsServer, type Zone } from '../../helpers/dns-server.js';

async function dns(t: TestContext, zone: Zone): Promise<DnsServer> {
  const server = await startDnsServer(zone);
  t.after(() => server.close());
  return server;
}

const mxQuestions = (s: DnsServer, name: string): number => s.questions.filter((q) => q.toLowerCase() === `${name} mx`).length;

describe('MX cache', () => {
  it('asks once within the lifetime, again after it', async (t) => {
    const zone: Record<string, Zone[string]> = {
      'dest.test': { MX: [{ exchange: 'mx.dest.test', priority: 10 }] },
      'mx.dest.test': { A: ['192.0.2.1'] },
    };
    const server = await dns(t, zone);
    let now = 1_000_000;
    const resolver = new MxResolver({ servers: [server.address], timeoutMs: 1000, cacheMs: 60_000, now: () => now });
    const first = await resolver.resolve('dest.test');
    assert.deepEqual(first, { kind: 'hosts', hosts: [{ name: 'mx.dest.test', preference: 10, addresses: ['192.0.2.1'] }] });
    zone['mx.dest.test'] = { A: ['192.0.2.2'] };
    now += 59_000;
    assert.deepEqual(await resolver.resolve('Dest.Test.'), first);
    assert.equal(mxQuestions(server, 'dest.test'), 1);
    now += 2_000;
    const later = await resolver.resolve('dest.test');
    assert.equal(later.kind === 'hosts' ? later.hosts[0]?.addresses[0] : null, '192.0.2.2');
    assert.equal(mxQuestions(server, 'dest.test'), 2);
  });

  it('never remembers a transient failure', async (t) => {
    const zone: Record<string, Zone[string]> = { 'flaky.test': { servfail: true } };
    const server = await dns(t, zone);
    const resolver = new MxResolver({ servers: [server.address], timeoutMs: 1000 });
    assert.equal((await resolver.resolve('flaky.test')).kind, 'transient');
    zone['flaky.test'] = { A: ['192.0.2.9'] };
    assert.deepEqual(await resolver.resolve('flaky.test'), { kind: 'hosts', hosts: [{ name: 'flaky.test', preference: 0, addresses: ['192.0.2.9'] }] });
  });

  it('shuffles equal preferences again on each use of a remembered answer', async (t) => {
    const server = await dns(t, {
      'equal.test': {
        MX: [
          { exchange: 'a.equal.test', priority: 10 },
          { exchange: 'b.equal.test', priority: 10 },
          { exchange: 'c.equal.test', priority: 20 },
        ],
      },
      'a.equal.test': { A: ['192.0.2.10'] },
      'b.equal.test': { A: ['192.0.2.11'] },
      'c.equal.test': { A: ['192.0.2.12'] },
    });
    let pick = 0;
    // Each resolve draws twice (three records); 0.99 draws keep the order, 0 draws move it: alternate per resolve.
    const resolver = new MxResolver({ servers: [server.address], timeoutMs: 1000, random: () => (Math.floor(pick++ / 2) % 2 === 0 ? 0.99 : 0) });
    const names = async (): Promise<string[]> => {
      const r = await resolver.resolve('equal.test');
      return r.kind === 'hosts' ? r.hosts.map((h) => h.name) : [];
    };
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const order = await names();
      assert.equal(order[2], 'c.equal.test');
      seen.add(order.slice(0, 2).join(','));
    }
    assert.equal(mxQuestions(server, 'equal.test'), 1);
    assert.equal(seen.size, 2, 'both orders of the equal pair are used');
  });
});
