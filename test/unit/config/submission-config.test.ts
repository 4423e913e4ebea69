// [submission]: defaults, paths, and the listeners it may not share with the other servers.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ConfigError } from '../../../src/config/config-error.js';
import { overlaps } from '../../../src/config/listen-overlap.js';
import { loadConfig } from '../../../src/config/load-config.js';
import { parseHostPort } from '../../../src/config/schema.js';

let dir: string;
let count = 0;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'facteur-subconfig-'));
});
after(() => rm(dir, { recursive: true, force: true }));

async function load(toml: string) {
  const file = join(dir, `c${++count}.toml`);
  await writeFile(file, `hostname = "mx.test"\n${toml}`);
  return { file, load: () => loadConfig(file) };
}

async function problems(toml: string): Promise<string[]> {
  const { file, load: l } = await load(toml);
  try {
    await l();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems.map((p) => `${p.key}: ${p.problem}`.replace(file, 'FILE'));
  }
  assert.fail('expected a ConfigError');
}

test('defaults: off, [::]:587 with STARTTLS, no implicit TLS, passwords beside the config', async () => {
  const { load: l } = await load('');
  const c = await l();
  assert.deepEqual(c.submission, {
    enabled: false,
    listen: [{ host: '::', port: 587, text: '[::]:587' }],
    listenTls: [],
    passwordsFile: join(dir, 'passwords'),
    maxAuthFailures: 10,
    authFailureWindow: 600_000,
    authBan: 3_600_000,
    maxMessagesPerHour: 500,
    receivedShowsUser: false,
    maxConnections: 100,
  });
});

test('the same implicit TLS address for the MX and submission is an error that says why', async () => {
  const lines = await problems('[inbound]\nlisten_tls = ["[::]:465"]\n[submission]\nenabled = true\nlisten = ["[::]:10587"]\nlisten_tls = ["[::]:465"]\n');
  assert.equal(lines.length, 1, lines.join('\n'));
  assert.match(lines[0]!, /^submission\.listen_tls: "\[::\]:465" is also in inbound\.listen_tls \("\[::\]:465"\): .*RFC 8314.*not both/);
});

test('submission on the relay\'s port is an error that suggests moving the relay', async () => {
  const lines = await problems('[submission]\nenabled = true\n');
  // The defaults collide: [::]:587 covers the relay's 127.0.0.1:587 and [::1]:587.
  assert.equal(lines.length, 2, lines.join('\n'));
  for (const l of lines) assert.match(l, /^submission\.listen: "\[::\]:587" overlaps outbound\.listen .*outbound\.listen = \["127\.0\.0\.1:10587"/);
});

test('submission without the relay is an error; a disabled server\'s ports do not count', async () => {
  assert.deepEqual(await problems('[outbound]\nenabled = false\n[submission]\nenabled = true\nlisten = ["127.0.0.1:10587"]\n'), [
    'submission.enabled: submission needs the outbound relay: submitted mail goes into its queue (set outbound.enabled = true)',
  ]);
  const { load: l } = await load('[inbound]\nenabled = false\nlisten_tls = ["[::]:465"]\n[outbound]\nlisten = ["127.0.0.1:2587"]\n[submission]\nenabled = true\nlisten_tls = ["[::]:465"]\n');
  assert.equal((await l()).submission.enabled, true);
});

test('which listen addresses overlap', () => {
  const a = (s: string) => parseHostPort(s, 'listen address', 0);
  const cases: [string, string, boolean][] = [
    ['[::]:465', '[::]:465', true],
    ['[::]:465', '127.0.0.1:465', true],
    ['0.0.0.0:465', '192.0.2.1:465', true],
    ['0.0.0.0:465', '[::1]:465', false],
    ['127.0.0.1:465', '127.0.0.2:465', false],
    ['127.0.0.1:465', '127.0.0.1:587', false],
    ['127.0.0.1:0', '127.0.0.1:0', false],
  ];
  for (const [x, y, want] of cases) {
    assert.equal(overlaps(a(x), a(y)), want, `${x} ${y}`);
    assert.equal(overlaps(a(y), a(x)), want, `${y} ${x}`);
  }
});
