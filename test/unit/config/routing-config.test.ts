// The [inbound] keys of addresses: defaults, normalisation, and each problem under its key.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { ConfigError } from '../../../src/config/config-error.js';
import { loadConfig } from '../../../src/config/load-config.js';
import { tempDir } from '../../helpers/temp-dir.js';

async function load(t: TestContext, toml: string) {
  const file = join(await tempDir(t), 'facteur.toml');
  await writeFile(file, `hostname = "mx.test"\n${toml}`);
  return { file, load: () => loadConfig(file) };
}

async function problemLines(t: TestContext, toml: string): Promise<string[]> {
  const { file, load: run } = await load(t, toml);
  try {
    await run();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message.split('\n').map((l) => l.slice(file.length + 2));
  }
  return assert.fail('expected a ConfigError');
}

test('values as given, normalised: catch-alls and domains lower-cased, srs_domain from the first local domain', async (t) => {
  const { file, load: run } = await load(
    t,
    [
      '[inbound]',
      'domains = ["Example.org", "example.net"]',
      'recipient_delimiter = "+-"',
      'deliver_to_subfolder = true',
      'srs_max_age = "30d"',
      '[inbound.users]',
      'all = ["@Example.NET"]',
      '[inbound.aliases]',
      '"Info@Example.ORG" = ["alice@example.org", "Bob@Elsewhere.Test"]',
      '"@example.org" = ["info@example.org"]',
    ].join('\n'),
  );
  const c = await run();
  assert.equal(c.inbound.recipientDelimiter, '+-');
  assert.equal(c.inbound.deliverToSubfolder, true);
  assert.deepEqual(c.inbound.aliases, { 'Info@example.org': ['alice@example.org', 'Bob@elsewhere.test'], '@example.org': ['info@example.org'] });
  assert.deepEqual(c.inbound.users, { all: ['@example.net'] });
  assert.equal(c.inbound.srsDomain, 'example.org');
  assert.equal(c.inbound.srsSecretFile, join(file, '..', 'data', 'srs-secret'));
  assert.equal(c.inbound.srsMaxAge, 30 * 86_400_000);
});

test('each problem under its key', async (t) => {
  const cases: [string, RegExp][] = [
    ['[inbound]\nrecipient_delimiter = "@"', /^inbound\.recipient_delimiter: "@" cannot be a delimiter/],
    ['[inbound]\nrecipient_delimiter = " "', /^inbound\.recipient_delimiter: " " cannot be a delimiter/],
    ['[inbound]\nsrs_domain = "not a domain"', /^inbound\.srs_domain: "not a domain" is not a valid domain name/],
    ['[inbound]\ndomains = ["example.org"]\n[inbound.aliases]\n"info@example.net" = ["a@example.org"]', /^inbound\.aliases\."info@example\.net": "info@example\.net": example\.net is not a local domain/],
    ['[inbound]\ndomains = ["example.org"]\n[inbound.aliases]\n"info@example.org" = "a@example.org"', /^inbound\.aliases\."info@example\.org": expected a list of addresses/],
    ['[inbound]\ndomains = ["example.org"]\n[inbound.aliases]\n"info@example.org" = ["not an address"]', /^inbound\.aliases\."info@example\.org": target "not an address" is not an address/],
    ['[inbound]\ndomains = ["example.org"]\n[inbound.users]\nall = ["@example.net"]', /^inbound\.users\.all: "@example\.net": example\.net is not a local domain/],
    [
      '[outbound]\nenabled = false\n[inbound]\ndomains = ["example.org"]\n[inbound.aliases]\n"out@example.org" = ["dave@elsewhere.test"]',
      /^inbound\.aliases\."out@example\.org": forwards to dave@elsewhere\.test, which needs the outbound relay/,
    ],
  ];
  for (const [toml, expected] of cases) {
    const lines = await problemLines(t, toml);
    assert.equal(lines.length, 1, `${toml}\n${lines.join('\n')}`);
    assert.match(lines[0]!, expected, toml);
  }
});
