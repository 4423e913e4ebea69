// MTA-STS policy discovery (RFC 8461 §5.1) with a scripted DNS and fetch, the real on-disk store, and a driven clock.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DnsError } from '../../../../src/dns/dns-error.js';
import type { TxtRecord } from '../../../../src/dns/records.js';
import { MtaSts } from '../../../../src/outbound/tls-policy/mta-sts.js';
import type { StsFetchResult } from '../../../../src/outbound/tls-policy/sts-fetch.js';
import { parseStsPolicy } from '../../../../src/outbound/tls-policy/sts-policy.js';
import { StsPolicyStore } from '../../../../src/outbound/tls-policy/sts-store.js';

const DAY = 86_400_000;
const POLICY = (mode: string, maxAge = 7 * 86_400, mx = 'mx1.sts.test') => `version: STSv1\nmode: ${mode}\nmx: ${mx}\nmax_age: ${maxAge}\n`;

/** A little world: what DNS says for _mta-sts.sts.test, what the policy host serves, and a clock. */
function world(dir: string) {
  const w = {
    now: 1_700_000_000_000,
    txt: [['v=STSv1; id=one;']] as TxtRecord[] | DnsError,
    served: POLICY('enforce') as string | null,
    fetches: 0,
    store: new StsPolicyStore(dir),
    sts: null as unknown as MtaSts,
    restart(): void {
      w.sts = new MtaSts({
        dns: {
          txt: async (name) => {
            assert.equal(name, '_mta-sts.sts.test');
            if (w.txt instanceof DnsError) throw w.txt;
            return { records: w.txt, authenticated: false, ttl: 300, name };
          },
        },
        fetch: async (): Promise<StsFetchResult> => {
          w.fetches++;
          if (w.served === null) return { ok: false, reason: 'mta-sts.sts.test: no policy within 30000 ms', failure: 'sts-policy-fetch-error' };
          return { ok: true, policy: parseStsPolicy(w.served) };
        },
        store: w.store,
        now: () => w.now,
      });
    },
  };
  w.restart();
  return w;
}

describe('MtaSts', () => {
  let root = '';
  let n = 0;
  const fresh = async () => world(await mkdtemp(join(root, `w${++n}-`)));
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'facteur-mta-sts-'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  it('no TXT record and nothing cached: no policy, nothing fetched', async () => {
    const w = await fresh();
    w.txt = new DnsError('ENOTFOUND', '_mta-sts.sts.test', 'TXT');
    assert.deepEqual(await w.sts.policyFor('sts.test'), { policy: null, source: 'none', problem: null });
    assert.equal(w.fetches, 0);
  });

  it('"no policy" is remembered for a minute: no TXT lookup per message; a record published later is found after it', async () => {
    const w = await fresh();
    let lookups = 0;
    w.txt = new DnsError('ENOTFOUND', '_mta-sts.sts.test', 'TXT');
    w.sts = new MtaSts({
      dns: {
        txt: async (name) => {
          lookups++;
          if (w.txt instanceof DnsError) throw w.txt;
          return { records: w.txt, authenticated: false, ttl: 300, name };
        },
      },
      fetch: async () => ({ ok: true, policy: parseStsPolicy(POLICY('enforce')) }),
      store: w.store,
      now: () => w.now,
    });
    for (let i = 0; i < 3; i++) assert.equal((await w.sts.policyFor('sts.test')).source, 'none');
    assert.equal(lookups, 1);
    w.txt = [['v=STSv1; id=one;']];
    w.now += 59_000;
    assert.equal((await w.sts.policyFor('sts.test')).source, 'none');
    w.now += 1_000;
    assert.equal((await w.sts.policyFor('sts.test')).source, 'fetched');
    assert.equal(lookups, 2);
  });

  it('fetches on a new id, keeps the policy on disk, and uses it while the id stays', async () => {
    const w = await fresh();
    const first = await w.sts.policyFor('STS.test.');
    assert.equal(first.source, 'fetched');
    assert.deepEqual(first.policy, { mode: 'enforce', maxAge: 604800, mx: ['mx1.sts.test'], id: 'one' });
    const file = JSON.parse(await readFile(join(w.store.dir, 'sts.test.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(file, {
      domain: 'sts.test',
      id: 'one',
      fetched: new Date(w.now).toISOString(),
      expires: new Date(w.now + 604_800_000).toISOString(),
      policy: { version: 'STSv1', mode: 'enforce', max_age: 604800, mx: ['mx1.sts.test'] },
    });
    w.now += 3_600_000;
    assert.equal((await w.sts.policyFor('sts.test')).source, 'cached');
    assert.equal(w.fetches, 1);
  });

  it('fetches again when the TXT id changes', async () => {
    const w = await fresh();
    await w.sts.policyFor('sts.test');
    w.txt = [['v=STSv1; id=two;']];
    w.served = POLICY('testing', 86400, '*.sts.test');
    const second = await w.sts.policyFor('sts.test');
    assert.deepEqual({ source: second.source, mode: second.policy?.mode, id: second.policy?.id, mx: second.policy?.mx }, { source: 'fetched', mode: 'testing', id: 'two', mx: ['*.sts.test'] });
    assert.equal(w.fetches, 2);
  });

  it('keeps the cached policy when the new one cannot be fetched, and does not hammer the policy host', async () => {
    const w = await fresh();
    await w.sts.policyFor('sts.test');
    w.txt = [['v=STSv1; id=two;']];
    w.served = null;
    const r = await w.sts.policyFor('sts.test');
    assert.deepEqual({ source: r.source, id: r.policy?.id, failure: r.problem?.failure }, { source: 'cached', id: 'one', failure: 'sts-policy-fetch-error' });
    await w.sts.policyFor('sts.test');
    assert.equal(w.fetches, 2, 'no second fetch within five minutes of a failure');
    w.now += 6 * 60_000;
    await w.sts.policyFor('sts.test');
    assert.equal(w.fetches, 3);
  });

  it('keeps the cached policy when the TXT record goes away or DNS fails, across a restart', async () => {
    const w = await fresh();
    await w.sts.policyFor('sts.test');
    for (const txt of [new DnsError('ENOTFOUND', '_mta-sts.sts.test', 'TXT'), new DnsError('ESERVFAIL', '_mta-sts.sts.test', 'TXT'), new DnsError('ETIMEOUT', '_mta-sts.sts.test', 'TXT')]) {
      w.txt = txt;
      w.restart();
      w.now += DAY / 4;
      const r = await w.sts.policyFor('sts.test');
      assert.deepEqual({ source: r.source, id: r.policy?.id }, { source: 'cached', id: 'one' }, txt.code);
      assert.equal(r.problem?.failure, txt.temporary ? 'dns-error' : undefined);
    }
    assert.equal(w.fetches, 1);
  });

  it('drops an expired policy when nothing newer can be had', async () => {
    const w = await fresh();
    w.served = POLICY('enforce', 3600);
    await w.sts.policyFor('sts.test');
    w.txt = new DnsError('ESERVFAIL', '_mta-sts.sts.test', 'TXT');
    w.now += 3_601_000;
    assert.equal((await w.sts.policyFor('sts.test')).policy, null);
  });

  it('refreshes a policy in use before it expires, with the same id', async () => {
    const w = await fresh();
    await w.sts.policyFor('sts.test');
    w.now += DAY + 1000;
    w.served = POLICY('enforce', 7 * 86_400, 'mx2.sts.test');
    const r = await w.sts.policyFor('sts.test');
    assert.equal(w.fetches, 2);
    assert.deepEqual(r.policy?.mx, ['mx2.sts.test']);
  });

  it('honours mode none: no policy, and an older one is withdrawn', async () => {
    const w = await fresh();
    await w.sts.policyFor('sts.test');
    w.txt = [['v=STSv1; id=gone;']];
    w.served = 'version: STSv1\nmode: none\nmax_age: 86400\n';
    assert.deepEqual(await w.sts.policyFor('sts.test'), { policy: null, source: 'fetched', problem: null });
    w.txt = new DnsError('ENOTFOUND', '_mta-sts.sts.test', 'TXT');
    assert.equal((await w.sts.policyFor('sts.test')).policy, null);
  });

  it('keeps the cached policy when the TXT record turns invalid, and says so', async () => {
    const w = await fresh();
    await w.sts.policyFor('sts.test');
    w.txt = [['v=STSv1; id=a;'], ['v=STSv1; id=b;']];
    const r = await w.sts.policyFor('sts.test');
    assert.deepEqual({ id: r.policy?.id, failure: r.problem?.failure }, { id: 'one', failure: 'sts-record-invalid' });
  });

  it('treats a damaged file as no cached policy', async () => {
    const w = await fresh();
    await w.sts.policyFor('sts.test');
    await writeFile(join(w.store.dir, 'sts.test.json'), '{"domain": "sts.test", "id": ');
    w.restart();
    w.served = null;
    assert.equal((await w.sts.policyFor('sts.test')).policy, null);
  });

  it('shares one discovery between concurrent deliveries to a domain', async () => {
    const w = await fresh();
    await Promise.all([w.sts.policyFor('sts.test'), w.sts.policyFor('sts.test'), w.sts.policyFor('sts.test')]);
    assert.equal(w.fetches, 1);
  });

  it('never stores a file for a name that could not be one', async () => {
    const w = await fresh();
    assert.equal(w.store.fileOf('../etc'), null);
    assert.equal(w.store.fileOf('a/b.test'), null);
    assert.equal(w.store.fileOf('sts.test'), join(w.store.dir, 'sts.test.json'));
  });
});
