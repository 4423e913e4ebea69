// DkimKeys.load: the keys of the listed domains, and one clear problem per thing that cannot be used.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DkimKeyError, DkimKeys } from '../../../src/mailauth/dkim-keys.js';
import { generateDkimKey, KeyExistsError } from '../../../src/mailauth/dkim-keygen.js';

let dir: string;
let count = 0;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'facteur-dkim-keys-'));
});
after(() => rm(dir, { recursive: true, force: true }));

const newKeyDir = () => join(dir, `k${++count}`);

async function problems(keyDir: string, domains: string[]): Promise<string[]> {
  try {
    await DkimKeys.load(keyDir, domains);
  } catch (err) {
    assert.ok(err instanceof DkimKeyError);
    return [...err.problems];
  }
  assert.fail('expected a DkimKeyError');
}

describe('DkimKeys', () => {
  test('keys of both types load, sorted by selector; keysFor is exact unless parents are asked for', async () => {
    const keyDir = newKeyDir();
    await generateDkimKey(keyDir, 'example.org', 'rsa1', 'rsa');
    await generateDkimKey(keyDir, 'example.org', 'ed1', 'ed25519');
    await generateDkimKey(keyDir, 'example.net', 'facteur', 'ed25519');
    const keys = await DkimKeys.load(keyDir, ['Example.ORG', 'example.net']);
    assert.deepEqual(keys.keysFor('example.org').map((k) => [k.selector, k.algorithm]), [
      ['ed1', 'ed25519-sha256'],
      ['rsa1', 'rsa-sha256'],
    ]);
    assert.deepEqual(keys.keysFor('EXAMPLE.org.').length, 2);
    assert.deepEqual(keys.keysFor('mx.example.org'), []);
    assert.deepEqual(keys.keysFor('a.mx.example.org', { parents: true }).map((k) => k.domain), ['example.org', 'example.org']);
    assert.deepEqual(keys.keysFor('example.com', { parents: true }), []);
    assert.deepEqual([...keys.domains].sort(), ['example.net', 'example.org']);
  });

  test('a key of a domain not listed is not loaded', async () => {
    const keyDir = newKeyDir();
    await generateDkimKey(keyDir, 'example.org', 's', 'ed25519');
    assert.deepEqual((await DkimKeys.load(keyDir, [])).domains, []);
  });

  test('every problem is named: no key, not a key, too short, wrong type, bad selector, readable by others', async () => {
    const keyDir = newKeyDir();
    const d = join(keyDir, 'example.org');
    await mkdir(d, { recursive: true });
    const pem = (k: { privateKey: { export(o: object): string | Buffer } }) => String(k.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const files: [string, string, number][] = [
      ['junk.key', 'not a key', 0o600],
      ['short.key', pem(generateKeyPairSync('rsa', { modulusLength: 512 })), 0o600],
      ['ec.key', pem(generateKeyPairSync('ec', { namedCurve: 'P-256' })), 0o600],
      ['bad_selector.key', pem(generateKeyPairSync('ed25519')), 0o600],
      ['open.key', pem(generateKeyPairSync('ed25519')), 0o640],
      ['README', 'other files are ignored', 0o644],
    ];
    for (const [name, text, mode] of files) {
      await writeFile(join(d, name), text);
      await chmod(join(d, name), mode);
    }
    const found = await problems(keyDir, ['example.org', 'example.net']);
    assert.equal(found.length, 6, found.join('\n'));
    const has = (re: RegExp) => assert.ok(found.some((p) => re.test(p)), `${re}: ${found.join('\n')}`);
    has(/^example\.org: .*junk\.key: not a PEM private key$/);
    has(/^example\.org: .*short\.key: an RSA key of 512 bits is too short/);
    has(/^example\.org: .*ec\.key: a key of type ec: DKIM signs with RSA or Ed25519 keys only$/);
    has(/^example\.org: .*bad_selector\.key: "bad_selector" is not a valid selector/);
    has(/^example\.org: .*open\.key: other users may read or change it \(mode 0640\): run chmod 600 /);
    has(/^example\.net: no key in .*example\.net\/ \(make one with: facteur dkim keygen example\.net\)$/);
  });

  test('keygen never replaces a key, and leaves no temporary file behind', async () => {
    const keyDir = newKeyDir();
    await generateDkimKey(keyDir, 'example.org', 's', 'ed25519');
    await assert.rejects(generateDkimKey(keyDir, 'example.org', 's', 'rsa'), KeyExistsError);
    const { readdir } = await import('node:fs/promises');
    assert.deepEqual(await readdir(join(keyDir, 'example.org')), ['s.key']);
  });
});
