// A certificate authority made at test time (selfsigned, EC P-256): root, intermediates, server certificates for chosen names.
import { X509Certificate } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generate } from 'selfsigned';

/** A server certificate with its key; `chain` is the certificate followed by the intermediates, as a server sends it. */
export interface IssuedCert {
  readonly cert: string;
  readonly key: string;
  readonly chain: string;
  readonly x509: X509Certificate;
}

export interface IssueOptions {
  /** Validity (default: from an hour ago to a year from now). */
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  /** IP addresses in the subjectAltName as well. */
  readonly ips?: readonly string[];
  /** The subject CN (default: the first name). */
  readonly commonName?: string;
}

export interface TestCa {
  /** The CA's own certificate (PEM): a root for createTestCa, an intermediate for ca.intermediate(). */
  readonly cert: string;
  readonly key: string;
  readonly x509: X509Certificate;
  /** What a server sends after its own certificate: this CA and its parents up to the root, excluded (PEM; empty for a root). */
  readonly chainUp: string;
  /** A server certificate for DNS `names` (none: a certificate with only the CN). */
  issue(names: readonly string[], opts?: IssueOptions): Promise<IssuedCert>;
  /** A sub-CA signed by this one: its certificates chain through it. */
  intermediate(name: string): Promise<TestCa>;
}

const HOUR = 3_600_000;

/** A new root CA. Nothing is written to disk unless the test asks (writeCaFile); keys live in memory only. */
export async function createTestCa(name = 'facteur test root CA'): Promise<TestCa> {
  const pems = await generate([{ name: 'commonName', value: name }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notBeforeDate: new Date(Date.now() - HOUR),
    notAfterDate: new Date(Date.now() + 10 * 365 * 24 * HOUR),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  return authority(pems.cert, pems.private, '');
}

function authority(cert: string, key: string, chainUp: string): TestCa {
  return {
    cert,
    key,
    chainUp,
    x509: new X509Certificate(cert),
    async issue(names, opts = {}) {
      const altNames = [...names.map((value) => ({ type: 2 as const, value })), ...(opts.ips ?? []).map((ip) => ({ type: 7 as const, ip }))];
      const pems = await generate([{ name: 'commonName', value: opts.commonName ?? names[0] ?? 'no name' }], {
        keyType: 'ec',
        algorithm: 'sha256',
        ca: { key, cert },
        notBeforeDate: opts.notBefore ?? new Date(Date.now() - HOUR),
        notAfterDate: opts.notAfter ?? new Date(Date.now() + 365 * 24 * HOUR),
        extensions: [
          { name: 'basicConstraints', cA: false },
          { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
          { name: 'extKeyUsage', serverAuth: true },
          ...(altNames.length > 0 ? [{ name: 'subjectAltName' as const, altNames }] : []),
        ],
      });
      const chain = `${pems.cert.trimEnd()}\n${chainUp}`;
      return { cert: pems.cert, key: pems.private, chain, x509: new X509Certificate(pems.cert) };
    },
    async intermediate(name) {
      const pems = await generate([{ name: 'commonName', value: name }], {
        keyType: 'ec',
        algorithm: 'sha256',
        ca: { key, cert },
        notBeforeDate: new Date(Date.now() - HOUR),
        notAfterDate: new Date(Date.now() + 5 * 365 * 24 * HOUR),
        extensions: [
          { name: 'basicConstraints', cA: true, critical: true },
          { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
        ],
      });
      return authority(pems.cert, pems.private, `${pems.cert.trimEnd()}\n${chainUp}`);
    },
  };
}

/** Writes the CAs' certificates into `dir`/`name` (PEM), for outbound.ca_file; returns the path. */
export async function writeCaFile(dir: string, cas: readonly Pick<TestCa, 'cert'>[], name = 'ca.pem'): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, cas.map((c) => c.cert.trimEnd()).join('\n') + '\n');
  return file;
}
