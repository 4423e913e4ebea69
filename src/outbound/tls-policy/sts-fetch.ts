// Fetches a domain's MTA-STS policy over verified HTTPS (RFC 8461 §3.3): time limit, size cap, no redirects.
import { X509Certificate } from 'node:crypto';
import https from 'node:https';
import type { LookupFunction } from '../../dns/lookup.js';
import { certificateNames, matchingName } from './cert-identity.js';
import { parseStsPolicy, type StsPolicy, StsPolicyError } from './sts-policy.js';
import type { TrustStore } from './trust-store.js';

/** RFC 8460 §4.3.2.2 result types of a failed fetch, for logs and TLS reports. */
export type StsFetchFailure = 'sts-policy-fetch-error' | 'sts-policy-invalid' | 'sts-webpki-invalid';

export type StsFetchResult =
  | { readonly ok: true; readonly policy: StsPolicy }
  | { readonly ok: false; readonly reason: string; readonly failure: StsFetchFailure };

export interface StsFetchOptions {
  /** Resolves mta-sts.<domain> through the program's resolver (src/dns/lookup.ts). */
  readonly lookup: LookupFunction;
  /** The system's CAs plus outbound.ca_file. */
  readonly trust: Pick<TrustStore, 'secureContext'>;
  /** For the whole fetch, in ms (default 30 s). */
  readonly timeoutMs?: number;
  /** Largest policy accepted, in bytes (default 64 KiB, as RFC 8461 §3.3 suggests). */
  readonly maxBytes?: number;
  /** The HTTPS port (443; tests use another). */
  readonly port?: number;
  /** Aborts the fetch (shutdown). */
  readonly signal?: AbortSignal;
}

export const STS_POLICY_PATH = '/.well-known/mta-sts.txt';
const DEFAULT_MAX_BYTES = 64 * 1024;

/** OpenSSL's and Node's codes for a certificate that does not verify: a "webpki" failure in RFC 8460's words. */
const CERTIFICATE_ERRORS = /^(?:CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|ERR_TLS_CERT_ALTNAME_INVALID|HOSTNAME_MISMATCH|INVALID_CA|PATH_LENGTH_EXCEEDED)/;

/**
 * GET https://mta-sts.<domain>/.well-known/mta-sts.txt. The certificate must chain to a trusted CA and be valid
 * for mta-sts.<domain> (RFC 8461 §3.3); the answer must be 200 with a text/plain body; a redirect is refused and
 * nothing is cached by HTTP (the policy cache is ours). Never throws: the result says what went wrong.
 */
export async function fetchStsPolicy(domain: string, opts: StsFetchOptions): Promise<StsFetchResult> {
  const host = `mta-sts.${domain}`;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  const deadline = AbortSignal.timeout(timeoutMs);
  const signal = opts.signal === undefined ? deadline : AbortSignal.any([deadline, opts.signal]);
  const fail = (reason: string, failure: StsFetchFailure = 'sts-policy-fetch-error'): StsFetchResult => ({ ok: false, reason: `${host}: ${reason}`, failure });
  let text: string;
  try {
    text = await get(host, opts, maxBytes, signal);
  } catch (err) {
    if (signal.aborted) return fail(deadline.aborted ? `no policy within ${timeoutMs} ms` : 'fetch aborted');
    if (err instanceof FetchRefused) return fail(err.message);
    const code = String((err as { code?: unknown }).code ?? '');
    if (CERTIFICATE_ERRORS.test(code)) return fail(`certificate not valid: ${(err as Error).message}`, 'sts-webpki-invalid');
    return fail(`${(err as Error).message}${code !== '' && !(err as Error).message.includes(code) ? ` (${code})` : ''}`);
  }
  try {
    return { ok: true, policy: parseStsPolicy(text) };
  } catch (err) {
    if (err instanceof StsPolicyError) return fail(`invalid policy: ${err.message}`, 'sts-policy-invalid');
    throw err;
  }
}

/** A response we will not take (status, type, size, encoding): its message is the reason. */
class FetchRefused extends Error {}

function get(host: string, opts: StsFetchOptions, maxBytes: number, signal: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host,
      port: opts.port ?? 443,
      path: STS_POLICY_PATH,
      method: 'GET',
      headers: { accept: 'text/plain', 'user-agent': 'facteur (MTA-STS)' },
      lookup: opts.lookup,
      // Handed on to tls.connect by the agent; RequestOptions does not declare it.
      ...({ secureContext: opts.trust.secureContext } as object),
      servername: host,
      rejectUnauthorized: true,
      // Runs inside the TLS handshake, where a throw would be uncaught: every failure is returned, never thrown.
      checkServerIdentity: (name, cert) => {
        try {
          if (cert.raw === undefined) return new Error('no certificate');
          const x509 = new X509Certificate(cert.raw);
          if (matchingName(x509, [name]) !== null) return undefined;
          return Object.assign(new Error(`the certificate is for ${certificateNames(x509).join(', ') || 'no name'}, not ${name}`), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
        } catch (err) {
          return err instanceof Error ? err : new Error(String(err));
        }
      },
      // A fresh connection each time: no pooled socket or TLS session from an earlier, maybe different, answer.
      agent: false,
      signal,
    });
    req.on('error', reject);
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      const refuse = (reason: string): void => {
        res.destroy();
        reject(new FetchRefused(reason));
      };
      // RFC 8461 §3.3: "HTTP 3xx redirects MUST NOT be followed".
      if (status >= 300 && status < 400) return refuse(`HTTP ${status} redirect${res.headers.location !== undefined ? ` to ${res.headers.location}` : ''} refused (RFC 8461 §3.3)`);
      if (status !== 200) return refuse(`HTTP ${status}`);
      const type = res.headers['content-type'] ?? '';
      if (!/^text\/plain\s*(?:;|$)/i.test(type)) return refuse(`content type ${JSON.stringify(type)}, not text/plain`);
      const declared = Number(res.headers['content-length']);
      if (declared > maxBytes) return refuse(`policy of ${declared} bytes, larger than ${maxBytes}`);
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBytes) refuse(`policy larger than ${maxBytes} bytes`);
        else chunks.push(chunk);
      });
      res.on('error', reject);
      res.on('end', () => {
        if (size > maxBytes) return;
        try {
          resolve(new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks)));
        } catch {
          reject(new FetchRefused('the policy is not valid UTF-8'));
        }
      });
    });
    req.end();
  });
}
