// restartNeeded: which edits a SIGHUP cannot apply, named as in the file.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { restartNeeded } from '../../../src/config/config-diff.js';
import { loadConfig } from '../../../src/config/load-config.js';

const base = { cwd: '/srv/x', machineName: 'mx.test' };

test('reloadable edits need no restart; listeners, folders and the relay do, named as written', async () => {
  const before = await loadConfig(null, base);
  const live = { ...before, log: { ...before.log, level: 'debug' as const }, inbound: { ...before.inbound, domains: ['example.org'], maxRecipients: 150, users: { a: ['a@example.org'] } } };
  assert.deepEqual(restartNeeded(before, live), []);
  const cold = {
    ...before,
    hostname: 'other.test',
    inbound: { ...before.inbound, maildirRoot: '/elsewhere' },
    outbound: { ...before.outbound, retryMin: 1000 },
    metrics: { listen: { host: '127.0.0.1', port: 9187, text: '127.0.0.1:9187' } },
  };
  assert.deepEqual(restartNeeded(before, cold).sort(), ['hostname', 'inbound.maildir_root', 'metrics.listen', 'outbound.retry_min']);
});
