// DMARC evaluations remembered per (author domain, its _dmarc answer, passing identifiers, ARC result): reused while
// those are the same, evaluated again when the record changes, a temperror never kept; pct= sampling stays per message.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkDmarc, type DmarcEvaluation, type DmarcInputs } from '../../../src/mailauth/dmarc-check.js';
import { ResultCache } from '../../../src/mailauth/result-cache.js';

/** A resolver over a zone that tests edit, counting lookups: a remembered evaluation costs only the key's one. */
function zone(records: Record<string, string[][] | Error>) {
  let lookups = 0;
  const resolve = async (name: string, _rrtype: string) => {
    lookups++;
    const r = records[name];
    if (r === undefined) throw Object.assign(new Error('no'), { code: 'ENOTFOUND' });
    if (r instanceof Error) throw r;
    return r;
  };
  return { records, resolve, lookups: () => lookups };
}

/** The lookups `run` made: 1 when the evaluation was remembered, more when mailauth evaluated. */
async function lookupsOf<T>(z: ReturnType<typeof zone>, run: () => Promise<T>): Promise<[T, number]> {
  const before = z.lookups();
  const out = await run();
  return [out, z.lookups() - before];
}

const inputs = (over: Partial<DmarcInputs> = {}): DmarcInputs => ({ fromDomain: 'example.org', spfDomains: [], dkimDomains: [{ domain: 'example.org' }], incomplete: false, random: () => 0.5, ...over });

test('one evaluation for the same inputs; another when the identifiers or the record change', async () => {
  const z = zone({ '_dmarc.example.org': [['v=DMARC1; p=reject']] });
  const cache = new ResultCache<DmarcEvaluation>();
  const evil = inputs({ dkimDomains: [{ domain: 'evil.example' }] });
  const steps: [string, number][] = [];
  for (const i of [inputs(), inputs(), evil, evil]) {
    const [o, n] = await lookupsOf(z, () => checkDmarc(z.resolve, i, cache));
    steps.push([o.result, n > 1 ? 1 : 0]);
  }
  z.records['_dmarc.example.org'] = [['v=DMARC1; p=none']];
  const [changed, n] = await lookupsOf(z, () => checkDmarc(z.resolve, evil, cache));
  steps.push([`${changed.result} ${changed.policy}`, n > 1 ? 1 : 0]);
  // [result, evaluated by mailauth]
  assert.deepEqual(steps, [['pass', 1], ['pass', 0], ['fail', 1], ['fail', 0], ['fail none', 1]]);
});

test('a DNS failure (temperror) is evaluated again with the next message', async () => {
  const z = zone({ '_dmarc.example.org': Object.assign(new Error('servfail'), { code: 'ESERVFAIL' }) });
  const cache = new ResultCache<DmarcEvaluation>();
  assert.equal((await checkDmarc(z.resolve, inputs(), cache)).result, 'temperror');
  assert.equal((await checkDmarc(z.resolve, inputs(), cache)).result, 'temperror');
  assert.equal(cache.size, 0);
});

test('pct= sampling is drawn per message, not remembered', async () => {
  const z = zone({ '_dmarc.example.org': [['v=DMARC1; p=reject; pct=50']] });
  const cache = new ResultCache<DmarcEvaluation>();
  const failing = (random: number) => checkDmarc(z.resolve, inputs({ dkimDomains: [], random: () => random }), cache);
  assert.deepEqual([(await failing(0.1)).disposition, (await failing(0.9)).disposition], ['reject', 'quarantine']);
});
