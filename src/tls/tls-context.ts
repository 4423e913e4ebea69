// Certificate and key for the servers: from the config, or a self-signed pair made once under <data_dir>/tls/.
import { constants, createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { chmod, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createSecureContext, type SecureContext } from 'node:tls';
import { generate } from 'selfsigned';
import { replaceFileDurably } from '../fs/durable-file.js';
import type { Logger } from '../observability/logger.js';
import { DEFAULT_CIPHERS, DEFAULT_MIN_VERSION, type TlsMinVersion } from './tls-profile.js';

/** Hands out the current SecureContext; reload() swaps it without touching open connections. */
export interface TlsProvider {
  current(): SecureContext;
}

export interface TlsOptions {
  /** Absolute paths of the PEM certificate chain and key, both or neither. */
  readonly cert: string | null;
  readonly key: string | null;
  readonly dataDir: string;
  /** The certificate's name when it is self-signed. */
  readonly hostname: string;
  /** OpenSSL cipher list (TLS 1.2 suites and TLS 1.3 TLS_* names), from tls.ciphers. */
  readonly ciphers?: string;
  readonly minVersion?: TlsMinVersion;
  readonly logger: Logger;
  readonly now?: () => Date;
}


const SELF_SIGNED_DAYS = 730;

export class TlsContextProvider implements TlsProvider {
  #context: SecureContext;

  private constructor(
    private opts: TlsOptions,
    context: SecureContext,
  ) {
    this.#context = context;
  }

  /** Loads the configured pair, or the self-signed one (making it on first start). Rejects with a message naming the file. */
  static async create(opts: TlsOptions): Promise<TlsContextProvider> {
    return new TlsContextProvider(opts, await loadContext(opts));
  }

  current(): SecureContext {
    return this.#context;
  }

  /**
   * SIGHUP: reads the certificate again (after a renewal). New connections get the new context; open ones keep
   * theirs. On failure the previous context stays in use and the error is logged: a bad renewal must not stop mail.
   */
  async reload(next: Partial<Pick<TlsOptions, 'cert' | 'key' | 'ciphers' | 'minVersion'>> = {}): Promise<void> {
    try {
      const opts = { ...this.opts, ...next };
      this.#context = await loadContext(opts);
      this.opts = opts;
      this.opts.logger.info({ event: 'tls-reloaded' }, 'TLS certificate reloaded');
    } catch (err) {
      this.opts.logger.error({ event: 'tls-reload-failed', err }, `TLS reload failed, keeping the previous certificate: ${(err as Error).message}`);
    }
  }
}

/** A self-signed certificate for `hostname` (subjectAltName DNS:hostname), PEM. */
export async function generateSelfSigned(hostname: string, now: Date = new Date()): Promise<{ cert: string; key: string }> {
  // Start an hour back so that a peer whose clock is slightly behind does not see a certificate "not yet valid".
  const notBeforeDate = new Date(now.getTime() - 3_600_000);
  const notAfterDate = new Date(now.getTime() + SELF_SIGNED_DAYS * 86_400_000);
  const pems = await generate([{ name: 'commonName', value: hostname }], {
    keyType: 'rsa', // RSA rather than ECDSA: the one every SMTP client can use
    keySize: 2048,
    algorithm: 'sha256', // the library's default, SHA-1, is refused by current TLS stacks
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: hostname }] },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}

async function loadContext(opts: TlsOptions): Promise<SecureContext> {
  const now = opts.now?.() ?? new Date();
  if (opts.cert !== null && opts.key !== null) {
    const pair = await readPair(opts.cert, opts.key);
    warnAboutCertificate(pair.x509, opts, now);
    return contextOf(pair.cert, pair.key, opts);
  }
  if (opts.cert !== null || opts.key !== null) throw new Error('tls.cert and tls.key must be given together');
  const { cert, key } = await selfSigned(opts, now);
  return contextOf(cert, key, opts);
}

function contextOf(cert: string, key: string, opts: TlsOptions): SecureContext {
  return createSecureContext({
    cert,
    key,
    minVersion: opts.minVersion ?? DEFAULT_MIN_VERSION,
    ciphers: opts.ciphers ?? DEFAULT_CIPHERS,
    honorCipherOrder: true,
    // A client may not renegotiate (TLS 1.2): each renegotiation costs the server a handshake, a cheap way to burn
    // its CPU, and SMTP never needs one. TLS 1.3 has no renegotiation at all.
    secureOptions: constants.SSL_OP_NO_RENEGOTIATION,
  });
}

/** Reads and checks a PEM pair; every error names the file at fault. */
async function readPair(certFile: string, keyFile: string): Promise<{ cert: string; key: string; x509: X509Certificate }> {
  const cert = await readPem(certFile, 'certificate');
  const key = await readPem(keyFile, 'key');
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new Error(`TLS certificate ${certFile}: not a PEM certificate (${(err as Error).message})`, { cause: err });
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw new Error(`TLS key ${keyFile}: not an unencrypted PEM private key (${(err as Error).message})`, { cause: err });
  }
  if (!x509.checkPrivateKey(privateKey)) throw new Error(`TLS key ${keyFile} does not belong to the certificate ${certFile}`);
  return { cert, key, x509 };
}

/** A PEM file that could not be read at all (as opposed to one that was read and is not valid). */
class UnreadableFile extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
    options: ErrorOptions,
  ) {
    super(message, options);
  }
}

async function readPem(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UnreadableFile(`TLS ${what} ${file}: cannot read (${code ?? (err as Error).message})`, code, { cause: err });
  }
}

function warnAboutCertificate(x509: X509Certificate, opts: TlsOptions, now: Date): void {
  for (const doubt of certificateDoubts(x509, opts.hostname, now)) opts.logger.warn({ event: doubt.event, cert: opts.cert, validTo: x509.validTo, hostname: opts.hostname }, doubt.text);
}

/** What is wrong with a certificate that still lets the server start: expired, or not naming our host. */
function certificateDoubts(x509: X509Certificate, hostname: string, now: Date): { event: string; text: string }[] {
  const doubts: { event: string; text: string }[] = [];
  if (new Date(x509.validTo) < now) doubts.push({ event: 'tls-expired', text: `the TLS certificate has expired (${x509.validTo})` });
  else if (new Date(x509.validFrom) > now) doubts.push({ event: 'tls-not-yet-valid', text: `the TLS certificate is not valid before ${x509.validFrom}` });
  if (x509.checkHost(hostname) === undefined) doubts.push({ event: 'tls-name-mismatch', text: `the TLS certificate does not name ${hostname}` });
  return doubts;
}

/**
 * `check-config`'s look at the configured pair: an error when the server could not start with it (unreadable, not
 * PEM, a key of another certificate), warnings for an expired certificate or one that does not name the host.
 */
export async function inspectCertificate(cert: string, key: string, hostname: string, now = new Date()): Promise<{ error: string | null; warnings: string[] }> {
  let pair: Awaited<ReturnType<typeof readPair>>;
  try {
    pair = await readPair(cert, key);
  } catch (err) {
    return { error: (err as Error).message, warnings: [] };
  }
  return { error: null, warnings: certificateDoubts(pair.x509, hostname, now).map((d) => d.text) };
}

/**
 * The pair under <dataDir>/tls/, reused while it is valid and names `hostname`; otherwise made again.
 * The key is written before the certificate, each atomically, so a crash leaves no pair that does not match.
 */
async function selfSigned(opts: TlsOptions, now: Date): Promise<{ cert: string; key: string }> {
  const dir = join(opts.dataDir, 'tls');
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);

  const existing = await readStoredPair(certFile, keyFile);
  if (existing !== null) {
    const valid = new Date(existing.x509.validTo) > now && existing.x509.checkHost(opts.hostname) !== undefined;
    if (valid) return existing;
    opts.logger.info({ event: 'tls-self-signed-renew', cert: certFile }, 'the self-signed certificate has expired or names another host: making a new one');
  }
  const made = await generateSelfSigned(opts.hostname, now);
  await replaceFileDurably(keyFile, made.key, { mode: 0o600 });
  await replaceFileDurably(certFile, made.cert, { mode: 0o644 });
  opts.logger.info({ event: 'tls-self-signed', cert: certFile, hostname: opts.hostname }, `made a self-signed TLS certificate for ${opts.hostname}`);
  return made;
}

/** The stored pair, or null when either file is missing or the pair is unusable (it is then made again). */
async function readStoredPair(certFile: string, keyFile: string): Promise<{ cert: string; key: string; x509: X509Certificate } | null> {
  try {
    return await readPair(certFile, keyFile);
  } catch (err) {
    // A file we cannot read (permissions) is an operator problem to report, not a reason to overwrite it.
    if (err instanceof UnreadableFile && err.code !== 'ENOENT') throw err;
    return null;
  }
}
