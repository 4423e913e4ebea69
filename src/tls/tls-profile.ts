// The TLS profile of facteur's servers: which versions and cipher suites they accept, unless tls.* says otherwise.
import { createSecureContext } from 'node:tls';

export type TlsMinVersion = 'TLSv1.2' | 'TLSv1.3';

/**
 * TLS 1.0 and 1.1 are deprecated (RFC 8996); senders that only speak them still have plain SMTP.
 */
export const DEFAULT_MIN_VERSION: TlsMinVersion = 'TLSv1.2';

/**
 * TLS 1.3's suites as they are (all AEAD, all forward-secret), then for TLS 1.2 only ECDHE key exchange (forward
 * secrecy) with an AEAD cipher (AES-GCM, ChaCha20-Poly1305): no CBC (Lucky 13 and kin), no static RSA key exchange,
 * no CCM_8, ARIA or Camellia. The order is ours to choose (honorCipherOrder): in TLS 1.2 AES-128-GCM first, as fast as any and
 * strong enough, ChaCha20 for clients without AES instructions.
 */
export const DEFAULT_CIPHERS = [
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'TLS_AES_128_GCM_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/** Throws (with OpenSSL's words) when no suite of `ciphers` is known: checked with the config, not at the first client. */
export function checkCipherList(ciphers: string): void {
  createSecureContext({ ciphers });
}
