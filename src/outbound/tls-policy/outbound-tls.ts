// Outbound TLS built from the config in one call: the trust store, MTA-STS discovery and DANE, behind two methods.
import { join } from 'node:path';
import type { OutboundConfig } from '../../config/config.js';
import type { DnsResolver } from '../../dns/dns-resolver.js';
import { lookupVia } from '../../dns/lookup.js';
import type { Logger } from '../../observability/logger.js';
import type { StartTlsOptions } from '../../smtp/client/smtp-client.js';
import { decideTlsPolicy, type DomainTlsPolicy, type HostTlsPolicy } from './host-policy.js';
import { MtaSts } from './mta-sts.js';
import { fetchStsPolicy } from './sts-fetch.js';
import { StsPolicyStore } from './sts-store.js';
import { loadTrustStore, type TrustStore } from './trust-store.js';

/** Where MTA-STS policies are kept: <data_dir>/mta-sts/<domain>.json. */
export const STS_DIR = 'mta-sts';

export interface OutboundTls {
  /** The CAs every verified connection trusts. */
  readonly trust: TrustStore;
  /** The policy of each MX host (in the order they will be tried) for one delivery attempt to `domain`. Never throws. */
  decide(domain: string, hosts: readonly string[]): Promise<DomainTlsPolicy>;
  /** What SmtpClient.startTls() needs for this host: SNI with its name, the trust store; nothing refused in the handshake. */
  startTlsOptions(host: HostTlsPolicy): StartTlsOptions;
}

export interface OutboundTlsOptions {
  readonly config: Pick<OutboundConfig, 'tls' | 'caFile' | 'mtaSts' | 'dane' | 'smtpPort'>;
  readonly dataDir: string;
  /** The program's resolver (the relay's servers). */
  readonly dns: DnsResolver;
  readonly logger: Logger;
  /** Port of MTA-STS policy hosts (443; tests use another). */
  readonly httpsPort?: number;
  /** Aborts policy fetches (shutdown). */
  readonly signal?: AbortSignal;
}

/** Reads outbound.ca_file (throws an Error naming it when unusable) and wires the pieces. */
export async function createOutboundTls(opts: OutboundTlsOptions): Promise<OutboundTls> {
  const { config, dns, logger } = opts;
  const trust = await loadTrustStore({ caFile: config.caFile });
  const lookup = lookupVia(dns);
  const mtaSts = config.mtaSts
    ? new MtaSts({
        dns,
        store: new StsPolicyStore(join(opts.dataDir, STS_DIR)),
        fetch: (domain) =>
          fetchStsPolicy(domain, { lookup, trust, ...(opts.httpsPort !== undefined ? { port: opts.httpsPort } : {}), ...(opts.signal !== undefined ? { signal: opts.signal } : {}) }),
        logger,
      })
    : null;
  const settings = { tls: config.tls, port: config.smtpPort };
  const deps = { dane: config.dane ? dns : null, mtaSts };
  logger.info({ cas: trust.sources, tls: config.tls, mta_sts: config.mtaSts, dane: config.dane }, 'outbound TLS policy ready');
  return {
    trust,
    decide: (domain, hosts) => decideTlsPolicy(domain, hosts, settings, deps),
    startTlsOptions: (host) => ({
      // SNI names the host; an address literal ("[192.0.2.1]") has no name to give (RFC 6066 §3).
      ...(host.host.startsWith('[') ? {} : { servername: host.host.replace(/\.$/, '') }),
      secureContext: trust.secureContext,
    }),
  };
}
