// The relay serves the local host only: a non-loopback listen address is a config error, for check-config and start.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { prepareFacteur, runCli, type PreparedFacteur } from '../helpers/facteur.js';

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
