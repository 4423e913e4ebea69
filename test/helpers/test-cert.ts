// A self-signed certificate and key for tests, made once per process with the selfsigned package.
import { generate } from 'selfsigned';

export interface TestCert {
  /** PEM certificate. */
  readonly cert: string;
  /** PEM private key. */
  readonly key: string;
}

let made: Promise<TestCert> | null = null;

/**
 * A certificate for "localhost" (also valid for 127.0.0.1 and ::1), made on first use and shared afterwards.
 * Nothing verifies it (the client under test does not check certificates); it only has to be well formed.
 */
export function testCert(): Promise<TestCert> {
  made ??= generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: false },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  }).then((pems) => ({ cert: pems.cert, key: pems.private }));
  return made;
}
