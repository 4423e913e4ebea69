// The keys of outbound TLS and of the one resolver: dns_servers, outbound.tls = "verify", ca_file, mta_sts, dane.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { formatSettings, warnings } from '../../../src/cli/check-config.js';
import { ConfigError } from '../../../src/config/config-error.js';
import { loadConfig } from '../../../src/config/load-config.js';

let dir = '';
let count = 0;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'facteur-tls-config-'));
});
after(() => rm(dir, { recursive: true, force: true }));

async function load(toml: string) {
  const file = join(dir, `c${++count}.toml`);
  await writeFile(file, toml);
  return loadConfig(file, { machineName: 'mx.test' });
}

describe('outbound TLS and DNS keys', () => {
  it('defaults: MTA-STS on, DANE off, opportunistic TLS, no extra CA, the system resolver', async () => {
    const c = await load('');
    assert.deepEqual(c.dnsServers, []);
    assert.deepEqual(
      { tls: c.outbound.tls, caFile: c.outbound.caFile, mtaSts: c.outbound.mtaSts, dane: c.outbound.dane, dns: c.outbound.dnsServers },
      { tls: 'opportunistic', caFile: null, mtaSts: true, dane: false, dns: [] },
    );
  });

  it('reads every key; ca_file is relative to the config folder; "verify" is kept as written', async () => {
    const c = await load(['dns_servers = ["127.0.0.1:5353"]', '[outbound]', 'tls = "verify"', 'ca_file = "ca.pem"', 'mta_sts = false', 'dane = true'].join('\n'));
    assert.deepEqual(c.dnsServers, ['127.0.0.1:5353']);
    assert.equal(c.outbound.tls, 'verify');
    assert.equal(c.outbound.caFile, join(dir, 'ca.pem'));
    assert.equal(c.outbound.mtaSts, false);
    assert.equal(c.outbound.dane, true);
  });

  it('the relay uses outbound.dns_servers when set, else the top-level dns_servers', async () => {
    assert.deepEqual((await load('dns_servers = ["127.0.0.1:53"]')).outbound.dnsServers, ['127.0.0.1:53']);
    const both = await load('dns_servers = ["127.0.0.1:53"]\n[outbound]\ndns_servers = ["[::1]:5353"]');
    assert.deepEqual(both.dnsServers, ['127.0.0.1:53']);
    assert.deepEqual(both.outbound.dnsServers, ['[::1]:5353']);
  });

  it('refuses bad values with the key named', async () => {
    const cases: [string, string, RegExp][] = [
      ['[outbound]\ntls = "strict"', 'outbound.tls', /expected one of "opportunistic", "required", "verify"/],
      ['[outbound]\nmta_sts = "yes"', 'outbound.mta_sts', /expected true or false/],
      ['[outbound]\ndane = 1', 'outbound.dane', /expected true or false/],
      ['[outbound]\nca_file = ""', 'outbound.ca_file', /expected a file or folder path/],
      ['dns_servers = ["dns.example.org"]', 'dns_servers', /host names are not accepted|not a DNS server/],
    ];
    for (const [toml, key, text] of cases) {
      await assert.rejects(load(toml), (err: unknown) => {
        assert.ok(err instanceof ConfigError, String(err));
        assert.equal(err.problems.length, 1, err.message);
        assert.equal(err.problems[0]?.key.replace(/\.\[\d+\]$/, ''), key);
        assert.match(err.problems[0]?.problem ?? '', text);
        return true;
      });
    }
  });

  it('check-config shows the keys, and loading what it prints gives the same config', async () => {
    const c = await load(['dns_servers = ["127.0.0.1:5353"]', '[outbound]', 'tls = "verify"', 'ca_file = "ca.pem"', 'dane = true'].join('\n'));
    const text = formatSettings(c, null);
    assert.match(text, /^dns_servers = \["127\.0\.0\.1:5353"\]$/m);
    assert.match(text, /^tls = "verify"$/m);
    assert.match(text, new RegExp(`^ca_file = ${JSON.stringify(join(dir, 'ca.pem')).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`, 'm'));
    assert.match(text, /^mta_sts = true$/m);
    assert.match(text, /^dane = true/m);
    const again = await load(text);
    assert.deepEqual({ ...again, file: null }, { ...c, file: null });
  });

  it('check-config warns when DANE would trust the AD bit of a resolver off this host', async () => {
    const remote = await load('[outbound]\ndane = true\ndns_servers = ["192.0.2.53"]');
    assert.ok(warnings(remote, null, 'f').some((w) => w.key === 'outbound.dane' && /192\.0\.2\.53/.test(w.problem)));
    const local = await load('[outbound]\ndane = true\ndns_servers = ["127.0.0.1:53", "[::1]:53"]');
    assert.ok(!warnings(local, null, 'f').some((w) => w.key === 'outbound.dane'));
  });
});
