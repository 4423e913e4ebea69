// The mail authentication keys: dns_servers, [dkim], inbound.verify and inbound.dmarc_policy.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ConfigError } from '../../../src/config/config-error.js';
import { loadConfig } from '../../../src/config/load-config.js';

let dir: string;
let count = 0;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'facteur-config-auth-'));
});
after(() => rm(dir, { recursive: true, force: true }));

async function load(toml: string) {
  const file = join(dir, `c${++count}.toml`);
  await writeFile(file, toml);
  return loadConfig(file, { machineName: 'mx.test' });
}

async function problems(toml: string): Promise<string[]> {
  try {
    await load(toml);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems.map((p) => `${p.key}: ${p.problem}`);
  }
  assert.fail('expected a ConfigError');
}

test('defaults: no DNS servers, no DKIM domain, selector "facteur", checks off (on when asked) and enforced', async () => {
  const c = await load('data_dir = "d"\n');
  assert.deepEqual(c.dnsServers, []);
  assert.deepEqual(c.dkim, { domains: [], selector: 'facteur', keyDir: join(dir, 'd', 'dkim') });
  assert.equal(c.inbound.verify, false);
  assert.equal(c.inbound.dmarcPolicy, 'enforce');
});

test('values as written, domains lower-cased and without duplicates', async () => {
  const c = await load(
    ['dns_servers = ["127.0.0.1:5353", "::1"]', '[dkim]', 'domains = ["Example.ORG", "example.org", "example.net"]', 'selector = "s2026.mail"', '[inbound]', 'verify = false', 'dmarc_policy = "report"'].join('\n'),
  );
  assert.deepEqual(c.dnsServers, ['127.0.0.1:5353', '::1']);
  assert.deepEqual(c.dkim.domains, ['example.org', 'example.net']);
  assert.equal(c.dkim.selector, 's2026.mail');
  assert.equal(c.inbound.verify, false);
  assert.equal(c.inbound.dmarcPolicy, 'report');
});

test('bad values name their key', async () => {
  assert.deepEqual(await problems('dns_servers = ["dns.example:53"]\n'), ['dns_servers: "dns.example:53": "dns.example" is not an IPv4 address (host names are not accepted: give an IP address)']);
  const lines = await problems(['[dkim]', 'domains = ["not a domain"]', 'selector = "bad_selector"', 'typo = 1', '[inbound]', 'dmarc_policy = "reject"', 'verify = "yes"'].join('\n'));
  assert.equal(lines.length, 5, lines.join('\n'));
  assert.ok(lines.some((l) => l.startsWith('dkim.domains: "not a domain" is not a valid domain name')));
  assert.ok(lines.some((l) => l.startsWith('dkim.selector: "bad_selector" is not a valid selector')));
  assert.ok(lines.some((l) => l.startsWith('dkim.typo: unknown key')));
  assert.ok(lines.includes('inbound.dmarc_policy: expected one of "enforce", "report", found a string ("reject")'));
  assert.ok(lines.some((l) => l.startsWith('inbound.verify: expected true or false')));
});
