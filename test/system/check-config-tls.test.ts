// `facteur check-config` opens the configured certificate and key: a key of another certificate is an error
// (exit 2), an expired certificate or one that does not name `hostname` a warning.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { generateSelfSigned } from '../../src/tls/tls-context.js';
import { runCli } from '../helpers/facteur.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'facteur-check-tls-'));
});
after(() => rm(dir, { recursive: true, force: true }));

/** A config naming `hostname`, with the given PEM pair written beside it. */
async function configWith(name: string, hostname: string, pair: { cert: string; key: string }): Promise<string> {
  await writeFile(join(dir, `${name}.cert.pem`), pair.cert);
  await writeFile(join(dir, `${name}.key.pem`), pair.key, { mode: 0o600 });
  const file = join(dir, `${name}.toml`);
  await writeFile(file, `hostname = "${hostname}"\n[tls]\ncert = "${name}.cert.pem"\nkey = "${name}.key.pem"\n[inbound]\ndomains = ["example.org"]\n[inbound.users]\npm = ["postmaster@example.org"]\n`);
  return file;
}

test('a valid pair naming the host: exit 0, no TLS warning', async () => {
  const file = await configWith('good', 'mx.example.org', await generateSelfSigned('mx.example.org'));
  const { code, stderr } = await runCli(['check-config', '-c', file]);
  assert.equal(code, 0, stderr);
  assert.doesNotMatch(stderr, /tls\./);
});

test('a certificate that names another host, or has expired: warnings naming tls.cert, exit 0', async () => {
  const other = await configWith('other', 'mx.example.org', await generateSelfSigned('www.example.org'));
  const a = await runCli(['check-config', '-c', other]);
  assert.equal(a.code, 0, a.stderr);
  assert.match(a.stderr, new RegExp(`^${other.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: tls\\.cert: warning: the TLS certificate does not name mx\\.example\\.org$`, 'm'));

  const expired = await configWith('expired', 'mx.example.org', await generateSelfSigned('mx.example.org', new Date(Date.now() - 800 * 86_400_000)));
  const b = await runCli(['check-config', '-c', expired]);
  assert.equal(b.code, 0, b.stderr);
  assert.match(b.stderr, /tls\.cert: warning: the TLS certificate has expired/);
});

test('a key that belongs to another certificate: one FILE: tls.cert: problem line, exit 2', async () => {
  const one = await generateSelfSigned('mx.example.org');
  const two = await generateSelfSigned('mx.example.org');
  const file = await configWith('mismatch', 'mx.example.org', { cert: one.cert, key: two.key });
  const { code, stdout, stderr } = await runCli(['check-config', '-c', file]);
  assert.equal(code, 2);
  assert.equal(stdout, '');
  assert.match(stderr, /^.*mismatch\.toml: tls\.cert: TLS key .*mismatch\.key\.pem does not belong to the certificate .*mismatch\.cert\.pem\n$/);
});
