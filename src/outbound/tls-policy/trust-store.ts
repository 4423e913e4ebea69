// The CAs outbound TLS trusts: the system's (Node's Mozilla list and the OS bundle) plus outbound.ca_file.
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import tls from 'node:tls';

/** Debian's (and Ubuntu's) bundle of the CAs the administrator trusts, made by update-ca-certificates. */
export const SYSTEM_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

export interface TrustStore {
  /** Give it to STARTTLS and to the policy fetch: every verified connection uses the same CAs. */
  readonly secureContext: tls.SecureContext;
  /** Where the CAs came from, for the start-up log: "node (146)", "/etc/ssl/certs/ca-certificates.crt (140)", "ca.pem (1)". */
  readonly sources: readonly string[];
}

export interface TrustStoreOptions {
  /** outbound.ca_file: PEM certificates trusted as well (a private CA, a test CA), or null. */
  readonly caFile: string | null;
  /** The OS bundle read as well when it exists (default SYSTEM_CA_BUNDLE); null: Node's list only. */
  readonly systemBundle?: string | null;
}

const PEM = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * Builds the context once (parsing a few hundred CAs takes milliseconds, too much per connection). A ca_file that
 * cannot be read or holds no valid certificate is an error that names it: starting without the CA the operator
 * asked for would fail every delivery that needs it, later and less clearly.
 */
export async function loadTrustStore(opts: TrustStoreOptions): Promise<TrustStore> {
  const ca: string[] = [...tls.rootCertificates];
  const sources = [`node (${tls.rootCertificates.length})`];
  const bundle = opts.systemBundle === undefined ? SYSTEM_CA_BUNDLE : opts.systemBundle;
  if (bundle !== null) {
    const text = await readFile(bundle, 'utf8').catch(() => null);
    const pems = text?.match(PEM) ?? [];
    if (pems.length > 0) {
      ca.push(...pems);
      sources.push(`${bundle} (${pems.length})`);
    }
  }
  if (opts.caFile !== null) {
    const pems = await readCaFile(opts.caFile);
    ca.push(...pems);
    sources.push(`${opts.caFile} (${pems.length})`);
  }
  return { secureContext: tls.createSecureContext({ ca }), sources };
}

/** The certificates of a PEM file, each checked; throws an Error naming the file and the problem. */
export async function readCaFile(file: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new Error(`outbound.ca_file ${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
  }
  const pems = text.match(PEM) ?? [];
  if (pems.length === 0) throw new Error(`outbound.ca_file ${file}: no PEM certificate in it`);
  for (const [i, pem] of pems.entries()) {
    try {
      new X509Certificate(pem);
    } catch (err) {
      throw new Error(`outbound.ca_file ${file}: certificate ${i + 1} is not valid (${(err as Error).message})`, { cause: err });
    }
  }
  return pems;
}
