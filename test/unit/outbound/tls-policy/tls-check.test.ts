// The verdict on a STARTTLS attempt per host policy: verified or not, the reason, and what delivery does next.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { HostTlsPolicy } from '../../../../src/outbound/tls-policy/host-policy.js';
import { checkBeforeConnect, checkTls, type TlsAction, type TlsOutcome, tlsLogFields } from '../../../../src/outbound/tls-policy/tls-check.js';
import { tlsaFor } from '../../../../src/outbound/tls-policy/tlsa.js';
import { createTestCa, type IssuedCert } from '../../../helpers/test-ca.js';

const base = { host: 'mx1.check.test', names: ['mx1.check.test'], tlsa: [], sts: null, skip: null } as const;
const policies = {
  opportunistic: { ...base, policy: 'opportunistic', requireTls: false, requireVerified: false },
  required: { ...base, policy: 'opportunistic', requireTls: true, requireVerified: false },
  verify: { ...base, policy: 'verify', requireTls: true, requireVerified: true },
  enforce: { ...base, policy: 'mta-sts', requireTls: true, requireVerified: true, sts: { mode: 'enforce', id: 'x', mxListed: true } },
  testing: { ...base, policy: 'mta-sts', requireTls: false, requireVerified: false, sts: { mode: 'testing', id: 'x', mxListed: true } },
} satisfies Record<string, HostTlsPolicy>;

describe('checkTls', () => {
  let good: IssuedCert;
  let wrongName: IssuedCert;
  let dane: HostTlsPolicy;
  let daneUnusable: HostTlsPolicy;
  const tls = (cert: IssuedCert, authorized = true, authorizationError: string | null = null): TlsOutcome => ({
    kind: 'tls',
    info: { authorized, authorizationError, peerCertificates: [cert.x509] },
  });
  const noTls: TlsOutcome = { kind: 'no-starttls', detail: 'STARTTLS not offered' };
  const broken: TlsOutcome = { kind: 'handshake-failed', detail: 'protocol version' };

  before(async () => {
    const ca = await createTestCa();
    good = await ca.issue(['mx1.check.test']);
    wrongName = await ca.issue(['other.check.test']);
    dane = { ...base, policy: 'dane', requireTls: true, requireVerified: true, tlsa: [tlsaFor(good.x509, 3, 1, 1)] };
    daneUnusable = { ...base, policy: 'dane', requireTls: true, requireVerified: false, tlsa: [] };
  });

  // [what, policy, outcome, verified, action, failure]
  const table = (): [string, () => HostTlsPolicy, TlsOutcome, boolean, TlsAction, string | null][] => [
    ['opportunistic, valid certificate', () => policies.opportunistic, tls(good), true, 'proceed', null],
    ['opportunistic, untrusted certificate: delivers, not verified', () => policies.opportunistic, tls(good, false, 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY'), false, 'proceed', 'certificate-not-trusted'],
    ['opportunistic, wrong name: delivers, not verified', () => policies.opportunistic, tls(wrongName), false, 'proceed', 'certificate-host-mismatch'],
    ['opportunistic, no STARTTLS: plain text', () => policies.opportunistic, noTls, false, 'proceed', 'starttls-not-supported'],
    ['opportunistic, broken handshake: plain text again', () => policies.opportunistic, broken, false, 'retry-plain', 'validation-failure'],
    ['required, untrusted certificate: delivers', () => policies.required, tls(good, false, 'DEPTH_ZERO_SELF_SIGNED_CERT'), false, 'proceed', 'certificate-not-trusted'],
    ['required, no STARTTLS: next host', () => policies.required, noTls, false, 'next-host', 'starttls-not-supported'],
    ['required, broken handshake: next host', () => policies.required, broken, false, 'next-host', 'validation-failure'],
    ['verify, valid certificate', () => policies.verify, tls(good), true, 'proceed', null],
    ['verify, expired certificate: next host', () => policies.verify, tls(good, false, 'CERT_HAS_EXPIRED'), false, 'next-host', 'certificate-expired'],
    ['verify, wrong name: next host', () => policies.verify, tls(wrongName), false, 'next-host', 'certificate-host-mismatch'],
    ['mta-sts enforce, valid', () => policies.enforce, tls(good), true, 'proceed', null],
    ['mta-sts enforce, untrusted: next host', () => policies.enforce, tls(good, false, 'SELF_SIGNED_CERT_IN_CHAIN'), false, 'next-host', 'certificate-not-trusted'],
    ['mta-sts enforce, STARTTLS stripped: next host, never plain', () => policies.enforce, noTls, false, 'next-host', 'starttls-not-supported'],
    ['mta-sts testing, wrong name: delivers and reports', () => policies.testing, tls(wrongName), false, 'proceed-report', 'certificate-host-mismatch'],
    ['mta-sts testing, no STARTTLS: delivers and reports', () => policies.testing, noTls, false, 'proceed-report', 'starttls-not-supported'],
    ['dane, matching key (names not checked)', () => dane, tls(good), true, 'proceed', null],
    ['dane, another key: next host', () => dane, tls(wrongName), false, 'next-host', 'validation-failure'],
    ['dane, STARTTLS stripped: next host, never plain', () => dane, noTls, false, 'next-host', 'starttls-not-supported'],
    ['dane, records all unusable: TLS without authentication', () => daneUnusable, tls(wrongName, false, 'X'), false, 'proceed', 'tlsa-invalid'],
  ];

  it('gives the verdict the policy calls for', () => {
    for (const [what, policyOf, outcome, verified, action, failure] of table()) {
      const policy = policyOf();
      const v = checkTls(policy, outcome);
      assert.deepEqual({ verified: v.verified, action: v.action, failure: v.failure }, { verified, action, failure }, `${what}: ${JSON.stringify(v)}`);
      assert.equal(v.policy, policy.policy);
      assert.equal(v.reason === null, verified, `${what}: a reason exactly when not verified`);
    }
  });

  it('words the reason for the log line and the queue', () => {
    const v = checkTls(policies.verify, tls(wrongName));
    assert.deepEqual(tlsLogFields(v), {
      tls_policy: 'verify',
      verified: false,
      tls_reason: 'certificate is for other.check.test, not mx1.check.test',
      tls_failure: 'certificate-host-mismatch',
    });
    assert.deepEqual(tlsLogFields(checkTls(policies.verify, tls(good))), { tls_policy: 'verify', verified: true });
  });

  it('rules out a host before connecting when the policy says so', () => {
    assert.equal(checkBeforeConnect(policies.enforce), null);
    const skipped = checkBeforeConnect({ ...policies.enforce, skip: 'mx9.check.test is not listed in the MTA-STS policy' });
    assert.equal(skipped?.action, 'next-host');
    assert.equal(skipped?.failure, 'sts-mx-mismatch');
  });
});
