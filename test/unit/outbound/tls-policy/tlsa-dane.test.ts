// TLSA records (RFC 6698, RFC 7672 §3.1) and DANE matching of a certificate chain, with certificates made by a test CA.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import type { X509Certificate } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { certificateNames, matchingName } from '../../../../src/outbound/tls-policy/cert-identity.js';
import { verifyDane } from '../../../../src/outbound/tls-policy/dane-verify.js';
import { formatTlsa, isUsableTlsa, parseTlsa, type TlsaRecord, tlsaData, tlsaFor } from '../../../../src/outbound/tls-policy/tlsa.js';
import { createTestCa, type IssuedCert, type TestCa } from '../../../helpers/test-ca.js';

const hex = (n: number): string => 'ab'.repeat(n);
const record = (usage: number, selector: number, matchingType: number, bytes: number): TlsaRecord => ({ usage, selector, matchingType, data: Buffer.alloc(bytes, 0xab) });

describe('TLSA presentation form (RFC 6698 §2.2, §2.3 examples)', () => {
  const cases: [string, string, string][] = [
    ['one line', '0 0 1 d2abde240d7cd3ee6b4b28c54df034b97983a1d16e8a410e4561cb106618e971', '0 0 1 d2abde240d7cd3ee6b4b28c54df034b97983a1d16e8a410e4561cb106618e971'],
    [
      'split over lines in parentheses',
      '( 1 1 2 92003ba34942dc74152e2f2c408d29ec\n a5a520e7f2e06bb944f4dca346baf63c\n 1b177615d466f6c4b71c216a50292bd5\n 8c9ebdd2f74e38fe51ffd48c43326cbc )',
      '1 1 2 92003ba34942dc74152e2f2c408d29eca5a520e7f2e06bb944f4dca346baf63c1b177615d466f6c4b71c216a50292bd58c9ebdd2f74e38fe51ffd48c43326cbc',
    ],
    ['upper-case hex', `3 1 1 ${'AB'.repeat(32)}`, `3 1 1 ${hex(32)}`],
  ];
  for (const [what, text, formatted] of cases) it(`reads ${what}`, () => assert.equal(formatTlsa(parseTlsa(text)), formatted));
  for (const bad of ['3 1 1', '3 1 1 abc', '3 1 x ab', '256 1 1 ab', '3 1 1 zz', '']) {
    it(`refuses ${JSON.stringify(bad)}`, () => assert.throws(() => parseTlsa(bad)));
  }
});

describe('usable TLSA records for SMTP (RFC 7672 §3.1)', () => {
  const cases: [string, TlsaRecord, boolean][] = [
    ['DANE-EE SPKI SHA-256', record(3, 1, 1, 32), true],
    ['DANE-EE full certificate SHA-512', record(3, 0, 2, 64), true],
    ['DANE-EE full data', record(3, 0, 0, 300), true],
    ['DANE-TA SPKI SHA-256', record(2, 1, 1, 32), true],
    ['DANE-TA certificate SHA-256', record(2, 0, 1, 32), true],
    ['PKIX-TA (usage 0) is unusable for SMTP', record(0, 0, 1, 32), false],
    ['PKIX-EE (usage 1) is unusable for SMTP', record(1, 1, 1, 32), false],
    ['an unknown usage', record(4, 1, 1, 32), false],
    ['an unknown selector', record(3, 2, 1, 32), false],
    ['an unknown matching type', record(3, 1, 3, 32), false],
    ['a SHA-256 digest of 31 bytes', record(3, 1, 1, 31), false],
    ['a SHA-512 digest of 32 bytes', record(3, 1, 2, 32), false],
    ['empty full data', record(3, 1, 0, 0), false],
  ];
  for (const [what, r, usable] of cases) it(`${what}: ${usable ? 'usable' : 'unusable'}`, () => assert.equal(isUsableTlsa(r), usable));
});

describe('certificates: TLSA data, names, DANE matching', () => {
  let root: TestCa;
  let sub: TestCa;
  let leaf: IssuedCert;
  let other: IssuedCert;
  let expired: IssuedCert;
  let chain: X509Certificate[];
  const now = new Date();

  before(async () => {
    root = await createTestCa('DANE test root');
    sub = await root.intermediate('DANE test intermediate');
    leaf = await sub.issue(['mx1.dane.test', '*.pool.dane.test']);
    other = await (await createTestCa('another root')).issue(['mx1.dane.test']);
    expired = await sub.issue(['mx1.dane.test'], { notBefore: new Date(Date.now() - 3 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) });
    chain = [leaf.x509, sub.x509];
  });

  it('computes the same TLSA data as openssl', (t) => {
    try {
      execFileSync('openssl', ['version']);
    } catch {
      t.skip('openssl is not installed');
      return;
    }
    const der = execFileSync('openssl', ['x509', '-outform', 'DER'], { input: leaf.cert });
    const spki = execFileSync('openssl', ['pkey', '-pubin', '-outform', 'DER'], { input: execFileSync('openssl', ['x509', '-noout', '-pubkey'], { input: leaf.cert }) });
    const digest = (alg: string, data: Buffer): string => execFileSync('openssl', ['dgst', `-${alg}`, '-r'], { input: data }).toString().split(' ')[0] ?? '';
    assert.equal(tlsaData(leaf.x509, 0, 0).toString('hex'), der.toString('hex'));
    assert.equal(tlsaData(leaf.x509, 1, 0).toString('hex'), spki.toString('hex'));
    assert.equal(tlsaData(leaf.x509, 0, 1).toString('hex'), digest('sha256', der));
    assert.equal(tlsaData(leaf.x509, 1, 1).toString('hex'), digest('sha256', spki));
    assert.equal(tlsaData(leaf.x509, 0, 2).toString('hex'), digest('sha512', der));
    assert.equal(tlsaData(leaf.x509, 1, 2).toString('hex'), digest('sha512', spki));
  });

  it('checks host names as RFC 6125 says: the wildcard is the whole left-most label, for one label', () => {
    const cases: [string, boolean][] = [
      ['mx1.dane.test', true],
      ['MX1.DANE.TEST.', true],
      ['a.pool.dane.test', true],
      ['pool.dane.test', false],
      ['a.b.pool.dane.test', false],
      ['mx2.dane.test', false],
    ];
    for (const [name, ok] of cases) assert.equal(matchingName(leaf.x509, [name]) !== null, ok, name);
    assert.deepEqual(certificateNames(leaf.x509), ['mx1.dane.test', '*.pool.dane.test']);
  });

  const cases: [string, () => TlsaRecord[], () => X509Certificate[], string[], string | null][] = [
    ['DANE-EE 3 1 1 matches the leaf', () => [tlsaFor(leaf.x509, 3, 1, 1)], () => chain, ['mx1.dane.test'], null],
    ['DANE-EE 3 0 2 matches the leaf', () => [tlsaFor(leaf.x509, 3, 0, 2)], () => chain, ['mx1.dane.test'], null],
    ['DANE-EE 3 0 0 matches the leaf', () => [tlsaFor(leaf.x509, 3, 0, 0)], () => chain, ['mx1.dane.test'], null],
    ['DANE-EE ignores the name (RFC 7672 §3.1.1)', () => [tlsaFor(leaf.x509, 3, 1, 1)], () => chain, ['elsewhere.test'], null],
    ['DANE-EE ignores an expired leaf', () => [tlsaFor(expired.x509, 3, 1, 1)], () => [expired.x509, sub.x509], ['mx1.dane.test'], null],
    ['DANE-EE of another key fails', () => [tlsaFor(other.x509, 3, 1, 1)], () => chain, ['mx1.dane.test'], 'validation-failure'],
    ['DANE-EE only looks at the leaf', () => [tlsaFor(sub.x509, 3, 1, 1)], () => chain, ['mx1.dane.test'], 'validation-failure'],
    ['DANE-TA 2 1 1 matches the intermediate', () => [tlsaFor(sub.x509, 2, 1, 1)], () => chain, ['mx1.dane.test'], null],
    ['DANE-TA 2 0 1 matches a root the server sends', () => [tlsaFor(root.x509, 2, 0, 1)], () => [...chain, root.x509], ['mx1.dane.test'], null],
    ['DANE-TA of a root the server does not send fails', () => [tlsaFor(root.x509, 2, 0, 1)], () => chain, ['mx1.dane.test'], 'validation-failure'],
    ['DANE-TA checks the name', () => [tlsaFor(sub.x509, 2, 1, 1)], () => chain, ['mx2.dane.test'], 'certificate-host-mismatch'],
    ['DANE-TA accepts a wildcard name', () => [tlsaFor(sub.x509, 2, 1, 1)], () => chain, ['x.pool.dane.test'], null],
    ['DANE-TA checks dates', () => [tlsaFor(sub.x509, 2, 1, 1)], () => [expired.x509, sub.x509], ['mx1.dane.test'], 'certificate-expired'],
    ['DANE-TA checks signatures below the anchor', () => [tlsaFor(sub.x509, 2, 1, 1)], () => [other.x509, sub.x509], ['mx1.dane.test'], 'validation-failure'],
    ['one matching record among others is enough', () => [record(3, 1, 1, 32), tlsaFor(leaf.x509, 3, 1, 2)], () => chain, ['mx1.dane.test'], null],
    ['no certificate at all', () => [tlsaFor(leaf.x509, 3, 1, 1)], () => [], ['mx1.dane.test'], 'validation-failure'],
  ];
  for (const [what, records, presented, names, failure] of cases) {
    it(what, () => {
      const r = verifyDane(records(), presented(), names, now);
      assert.equal(r.ok ? null : r.failure, failure, JSON.stringify(r));
    });
  }
});
