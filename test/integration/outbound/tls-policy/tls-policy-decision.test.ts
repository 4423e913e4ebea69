// Which policy each MX host gets, from what a validating resolver on loopback says (the AD bit): the precedence
// table of decideTlsPolicy without SMTP sessions, including the implicit MX and address literals.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DnsResolver } from '../../../../src/dns/dns-resolver.js';
import { decideTlsPolicy, type TlsPolicyDeps, type TlsPolicySettings } from '../../../../src/outbound/tls-policy/host-policy.js';
import type { MtaSts, StsLookup } from '../../../../src/outbound/tls-policy/mta-sts.js';
import { type DnsServer, startDnsServer, type Zone } from '../../../helpers/dns-server.js';

const TLSA = [{ usage: 3, selector: 1, matchingType: 1, data: 'ab'.repeat(32) }];
const UNUSABLE = [{ usage: 1, selector: 1, matchingType: 1, data: 'ab'.repeat(32) }];

const zone: Zone = {
  'secure.test': { MX: [{ exchange: 'mx.secure.test', priority: 10 }], ad: true },
  'mx.secure.test': { A: ['192.0.2.1'], ad: true },
  '_25._tcp.mx.secure.test': { TLSA, ad: true },
  'unusable.test': { MX: [{ exchange: 'mx.unusable.test', priority: 10 }], ad: true },
  'mx.unusable.test': { A: ['192.0.2.2'], ad: true },
  '_25._tcp.mx.unusable.test': { TLSA: UNUSABLE, ad: true },
  'insecure-a.test': { MX: [{ exchange: 'mx.insecure-a.test', priority: 10 }], ad: true },
  'mx.insecure-a.test': { A: ['192.0.2.3'] },
  '_25._tcp.mx.insecure-a.test': { TLSA, ad: true },
  'implicit.test': { A: ['192.0.2.4'], ad: true },
  '_25._tcp.implicit.test': { TLSA, ad: true },
  'no-tlsa.test': { MX: [{ exchange: 'mx.no-tlsa.test', priority: 10 }], ad: true },
  'mx.no-tlsa.test': { A: ['192.0.2.5'], ad: true },
};

const sts = (mode: 'enforce' | 'testing', mx: string[]): Pick<MtaSts, 'policyFor'> => ({
  policyFor: async (): Promise<StsLookup> => ({ policy: { mode, maxAge: 86400, mx, id: 'x' }, source: 'cached', problem: null }),
});

describe('decideTlsPolicy against a validating resolver on loopback', () => {
  let dns: DnsServer;
  let resolver: DnsResolver;
  before(async () => {
    // Denials carry the AD bit: this resolver proves non-existence (NSEC/NSEC3), as the implicit MX needs.
    dns = await startDnsServer(zone, { adOnDenial: true, negativeTtl: 60 });
    resolver = new DnsResolver({ servers: [dns.address], timeoutMs: 2000 });
  });
  after(() => dns.close());

  // [what, domain, hosts, outbound.tls, DANE on, MTA-STS, expected policy, requireTls, requireVerified, TLSA count, skip?]
  const table: [string, string, string[], TlsPolicySettings['tls'], boolean, Pick<MtaSts, 'policyFor'> | null, string, boolean, boolean, number, boolean][] = [
    ['secure MX, host and TLSA: dane', 'secure.test', ['mx.secure.test'], 'opportunistic', true, null, 'dane', true, true, 1, false],
    ['the same with DANE off: opportunistic', 'secure.test', ['mx.secure.test'], 'opportunistic', false, null, 'opportunistic', false, false, 0, false],
    ['DANE wins over an MTA-STS policy that does not even list the host', 'secure.test', ['mx.secure.test'], 'opportunistic', true, sts('enforce', ['other.test']), 'dane', true, true, 1, false],
    ['only unusable TLSA records: dane, TLS without authentication', 'unusable.test', ['mx.unusable.test'], 'opportunistic', true, null, 'dane', true, false, 0, false],
    ['insecure host addresses: no DANE (RFC 7672 §2.2.2)', 'insecure-a.test', ['mx.insecure-a.test'], 'verify', true, null, 'verify', true, true, 0, false],
    ['implicit MX with an authenticated denial of MX: dane', 'implicit.test', ['implicit.test'], 'opportunistic', true, null, 'dane', true, true, 1, false],
    ['no TLSA record: MTA-STS enforce, listed', 'no-tlsa.test', ['mx.no-tlsa.test'], 'opportunistic', true, sts('enforce', ['*.no-tlsa.test']), 'mta-sts', true, true, 0, false],
    ['MTA-STS enforce, not listed: skipped', 'no-tlsa.test', ['mx.no-tlsa.test'], 'opportunistic', true, sts('enforce', ['mail.no-tlsa.test']), 'mta-sts', true, true, 0, true],
    ['MTA-STS testing: nothing required', 'no-tlsa.test', ['mx.no-tlsa.test'], 'opportunistic', true, sts('testing', ['other.test']), 'mta-sts', false, false, 0, false],
    ['MTA-STS testing under tls = "verify": verify', 'no-tlsa.test', ['mx.no-tlsa.test'], 'verify', true, sts('testing', ['other.test']), 'verify', true, true, 0, false],
    ['tls = "required": opportunistic, TLS required', 'no-tlsa.test', ['mx.no-tlsa.test'], 'required', true, null, 'opportunistic', true, false, 0, false],
    ['an address literal: no DANE, no MTA-STS', '[192.0.2.9]', ['[192.0.2.9]'], 'opportunistic', true, sts('enforce', ['x.test']), 'opportunistic', false, false, 0, false],
  ];
  for (const [what, domain, hosts, tls, dane, mtaSts, policy, requireTls, requireVerified, tlsa, skip] of table) {
    it(what, async () => {
      const deps: TlsPolicyDeps = { dane: dane ? resolver : null, mtaSts };
      const d = await decideTlsPolicy(domain, hosts, { tls, port: 25 }, deps);
      const h = d.hosts[0];
      assert.ok(h !== undefined);
      assert.deepEqual(
        { policy: h.policy, requireTls: h.requireTls, requireVerified: h.requireVerified, tlsa: h.tlsa.length, skip: h.skip !== null },
        { policy, requireTls, requireVerified, tlsa, skip },
      );
    });
  }
});
