// Whether a cached session satisfies the next host's TLS policy, and the refusal line a recipient keeps as last error.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { CachedConnection } from '../../../src/outbound/connection-cache.js';
import { verdictForCached } from '../../../src/outbound/session-tls.js';
import type { HostTlsPolicy } from '../../../src/outbound/tls-policy/host-policy.js';
import { refusalText, type TlsVerdict } from '../../../src/outbound/tls-policy/tls-check.js';
import type { SmtpClient } from '../../../src/smtp/client/smtp-client.js';
import { createTestCa, type IssuedCert } from '../../helpers/test-ca.js';

const base = { names: ['mx1.cache.test'], host: 'mx1.cache.test', tlsa: [], sts: null, skip: null } as const;
const policy = {
  opportunistic: { ...base, policy: 'opportunistic', requireTls: false, requireVerified: false },
  required: { ...base, policy: 'opportunistic', requireTls: true, requireVerified: false },
  verify: { ...base, policy: 'verify', requireTls: true, requireVerified: true },
  verifyOther: { ...base, host: 'mx2.cache.test', names: ['mx2.cache.test'], policy: 'verify', requireTls: true, requireVerified: true },
  testing: { ...base, policy: 'mta-sts', requireTls: false, requireVerified: false, sts: { mode: 'testing', id: 'x', mxListed: true } },
} satisfies Record<string, HostTlsPolicy>;

const opened: TlsVerdict = { policy: 'opportunistic', verified: false, reason: 'no TLS: STARTTLS not offered', failure: 'starttls-not-supported', action: 'proceed' };

describe('verdictForCached', () => {
  let good: IssuedCert;
  before(async () => {
    good = await (await createTestCa()).issue(['mx1.cache.test']);
  });
  /** A cached session: in TLS with `good` (trusted or not), or in plain text; opened for mx1 under opportunistic. */
  const cached = (tls: 'trusted' | 'untrusted' | 'plain'): CachedConnection => ({
    client: {
      tls: tls === 'plain' ? null : { protocol: 'TLSv1.3', cipher: 'x', authorized: tls === 'trusted', authorizationError: tls === 'trusted' ? null : 'SELF_SIGNED_CERT_IN_CHAIN', peerCertificates: [good.x509] },
    } as unknown as SmtpClient,
    transactions: 1,
    host: 'mx1.cache.test',
    verdict: opened,
  });

  // [what, session, policy, reused with (policy, verified, action) or null]
  const table = (): [string, CachedConnection, HostTlsPolicy, [string, boolean, string] | null][] => [
    ['a trusted TLS session, judged again under "verify" for the same name', cached('trusted'), policy.verify, ['verify', true, 'proceed']],
    ['a trusted TLS session, but for another MX name on the same address', cached('trusted'), policy.verifyOther, null],
    ['an untrusted TLS session where a verified certificate is needed', cached('untrusted'), policy.verify, null],
    ['an untrusted TLS session under opportunistic', cached('untrusted'), policy.opportunistic, ['opportunistic', false, 'proceed']],
    ['an untrusted TLS session under MTA-STS testing: used, and reported', cached('untrusted'), policy.testing, ['mta-sts', false, 'proceed-report']],
    ['a plain-text session for the same host and policy', cached('plain'), policy.opportunistic, ['opportunistic', false, 'proceed']],
    ['a plain-text session where TLS is required', cached('plain'), policy.required, null],
    ['a plain-text session under another policy (MTA-STS testing)', cached('plain'), policy.testing, null],
  ];

  it('reuses a session only when it satisfies the new host policy', () => {
    for (const [what, session, p, expected] of table()) {
      const v = verdictForCached(session, p);
      assert.deepEqual(v === null ? null : [v.policy, v.verified, v.action], expected, what);
    }
  });
});

describe('refusalText', () => {
  it('says the policy, where, the reason and the RFC 8460 result type', () => {
    const cases: [string, TlsVerdict, string][] = [
      [
        'mx1.example.org [192.0.2.1]:25',
        { policy: 'mta-sts', verified: false, reason: 'certificate is for mail.example.net, not mx1.example.org', failure: 'certificate-host-mismatch', action: 'next-host' },
        'TLS policy mta-sts refused mx1.example.org [192.0.2.1]:25: certificate is for mail.example.net, not mx1.example.org (certificate-host-mismatch)',
      ],
      [
        'mx1.example.org [192.0.2.1]:25',
        { ...opened, action: 'next-host' },
        'TLS policy opportunistic with tls = "required" refused mx1.example.org [192.0.2.1]:25: no TLS: STARTTLS not offered (starttls-not-supported)',
      ],
      [
        'mx9.example.org',
        { policy: 'dane', verified: false, reason: 'TLSA lookup failed', failure: 'dnssec-invalid', action: 'next-host' },
        'TLS policy dane refused mx9.example.org: TLSA lookup failed (dnssec-invalid)',
      ],
    ];
    for (const [where, verdict, text] of cases) assert.equal(refusalText(where, verdict), text);
  });
});
