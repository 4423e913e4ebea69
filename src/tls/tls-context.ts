// STUB: contract only. Certificate and key for the servers: from the config, or a self-signed pair made once.
import type { SecureContext } from 'node:tls';

/** Hands out the current SecureContext; reload() swaps it without touching open connections. */
export interface TlsProvider {
  current(): SecureContext;
}
