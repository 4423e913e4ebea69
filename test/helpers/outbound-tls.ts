// The courier's TLS policy for tests that need neither MTA-STS nor DANE: outbound.tls alone, over the system's CAs.
import { tmpdir } from 'node:os';
import { DnsResolver } from '../../src/dns/dns-resolver.js';
import { silentLogger } from '../../src/observability/logger.js';
import { createOutboundTls, type OutboundTls } from '../../src/outbound/tls-policy/outbound-tls.js';

const made = new Map<string, Promise<OutboundTls>>();

/**
 * What app.ts builds from outbound.tls = `tls` with mta_sts and dane off (and `caFile` trusted as well): every host
 * gets the policy "verify" or "opportunistic". No DNS question is ever asked, so the resolver points nowhere.
 * One per (tls, caFile), shared: the trust store takes a few milliseconds to build.
 */
export function tlsPolicyOnly(tls: 'opportunistic' | 'required' | 'verify', caFile: string | null = null): Promise<OutboundTls> {
  const key = `${tls} ${caFile ?? ''}`;
  let policy = made.get(key);
  if (policy === undefined) {
    policy = createOutboundTls({
      config: { tls, caFile, mtaSts: false, dane: false, smtpPort: 25 },
      dataDir: tmpdir(),
      dns: new DnsResolver({ servers: ['127.0.0.1:9'] }),
      logger: silentLogger(),
    });
    made.set(key, policy);
  }
  return policy;
}
