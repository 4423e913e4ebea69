// facteur's DKIM signatures checked by a verifier that is not mailauth: dkimpy (Debian's python3-dkim), which fetches
// the public keys, as `facteur dkim keygen` printed them, from a DNS server on loopback. Both key types.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DkimSigner } from '../../src/mailauth/dkim-signer.js';
import { makeTestKeys, type TestKeys } from '../helpers/dkim.js';
import { dkimpy as verify, DKIMPY_SKIP as SKIP } from '../helpers/dkimpy.js';
import { startDnsServer, type DnsServer } from '../helpers/dns-server.js';

const dkimpy = (dns: DnsServer, message: string | Buffer) => verify(dns.address, message);

// The relay stores messages with LF line endings, and that is what it signs.
const MESSAGE = [
  'From: Alice Example <alice@example.org>',
  'To: Bob <bob@example.net>, carol@example.net',
  'Cc: dave@example.net',
  'Subject: Lunch   on Friday?',
  'Date: Tue, 24 Nov 2026 13:14:00 +0000',
  'Message-ID: <lunch.1@example.org>',
  'MIME-Version: 1.0',
  'Content-Type: text/plain; charset=utf-8',
  'List-Id: <friends.example.org>',
  'X-Mailer: not signed',
  '',
  'Hi Bob,',
  '',
  'shall we  meet at noon?\t ',
  '.a line that was dot-stuffed on the wire',
  '',
  '',
].join('\n');

describe('DKIM signatures verified by dkimpy', { skip: SKIP }, () => {
  let keys: TestKeys;
  let dns: DnsServer;
  let signed: string;
  before(async () => {
    keys = await makeTestKeys([
      ['example.org', 'rsa2026', 'rsa'],
      ['example.org', 'ed2026', 'ed25519'],
    ]);
    dns = await startDnsServer(keys.txt);
    const signer = new DkimSigner({ keys: keys.keys });
    // Written in odd pieces, as chunks arrive from a socket.
    const run = signer.start();
    const bytes = Buffer.from(MESSAGE);
    for (let i = 0; i < bytes.length; i += 7) run.write(bytes.subarray(i, i + 7));
    const result = await run.finish();
    assert.equal(result.domain, 'example.org');
    signed = result.fields + MESSAGE;
  });
  after(async () => {
    await dns?.close();
    if (keys !== undefined) await rm(dirname(keys.keyDir), { recursive: true, force: true });
  });

  test('both signatures verify, with LF line endings as stored', async () => {
    const verdicts = await dkimpy(dns, signed);
    assert.deepEqual(verdicts.map((v) => [v.a, v.d, v.ok]).sort(), [
      ['ed25519-sha256', 'example.org', true],
      ['rsa-sha256', 'example.org', true],
    ]);
  });

  test('both verify with CRLF line endings, as sent on the wire', async () => {
    const verdicts = await dkimpy(dns, signed.replace(/\n/g, '\r\n'));
    assert.deepEqual(verdicts.map((v) => v.ok), [true, true]);
  });

  // One octet changed, in the body or in a signed field, breaks both signatures; an added From: too (it is over-signed).
  const tampered: readonly [string, (m: string) => string][] = [
    ['one octet of the body', (m) => m.replace('noon', 'nOon')],
    ['one octet of a signed field', (m) => m.replace('Subject: Lunch', 'Subject: Munch')],
    ['a second From: field', (m) => m.replace('\nTo: ', '\nFrom: mallory@example.org\nTo: ')],
  ];
  for (const [name, change] of tampered) {
    test(`${name} fails`, async () => {
      const changed = change(signed);
      assert.notEqual(changed, signed);
      assert.deepEqual((await dkimpy(dns, changed)).map((v) => v.ok), [false, false]);
    });
  }

  test('an unsigned field may change (X-Mailer is not in h=)', async () => {
    assert.deepEqual((await dkimpy(dns, signed.replace('not signed', 'changed'))).map((v) => v.ok), [true, true]);
  });
});
