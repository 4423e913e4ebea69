// TlsContextProvider: the self-signed pair is made once and reused; configured pairs are read, checked and reloaded.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { connect, TLSSocket } from 'node:tls';
import { pino } from 'pino';
import { generateSelfSigned, TlsContextProvider } from '../../../src/tls/tls-context.js';
import type { Logger } from '../../../src/observability/logger.js';

let dir: string;
let count = 0;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'facteur-tls-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const fresh = () => join(dir, `d${++count}`);

/** A logger that keeps its lines, to check what was logged. */
function recordingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { logger, lines };
}

/** A TLS server on 127.0.0.1:0 that takes the provider's current context for each connection, as STARTTLS does. */
async function serve(provider: TlsContextProvider): Promise<{ port: number; close: () => Promise<void> }> {
  const server: Server = createServer((socket) => {
    const tls = new TLSSocket(socket, { isServer: true, secureContext: provider.current() });
    tls.on('error', () => tls.destroy());
    tls.on('secure', () => tls.end('hello\n'));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Handshakes with the server, checking the certificate against `ca` for `servername`; returns the peer's certificate fingerprint. */
async function handshake(port: number, ca: string, servername: string): Promise<string> {
  const socket = connect({ host: '127.0.0.1', port, ca, servername, checkServerIdentity: (_host, cert) => (cert.subjectaltname?.includes(`DNS:${servername}`) ? undefined : new Error('name')) });
  try {
    await once(socket, 'secureConnect');
    assert.ok(socket.authorized, String(socket.authorizationError));
    assert.ok(['TLSv1.2', 'TLSv1.3'].includes(socket.getProtocol() ?? ''));
    return socket.getPeerCertificate().fingerprint256;
  } finally {
    socket.destroy();
  }
}

test('generateSelfSigned names the host in subjectAltName', async () => {
  const { cert, key } = await generateSelfSigned('mx.test');
  const x509 = new X509Certificate(cert);
  assert.equal(x509.subjectAltName, 'DNS:mx.test');
  assert.equal(x509.checkHost('mx.test'), 'mx.test');
  assert.match(key, /BEGIN PRIVATE KEY/);
  assert.ok(new Date(x509.validTo) > new Date());
});

test('the self-signed pair is made once under <dataDir>/tls and reused', async () => {
  const dataDir = fresh();
  const { logger } = recordingLogger();
  const first = await TlsContextProvider.create({ cert: null, key: null, dataDir, hostname: 'mx.test', logger });
  const certFile = join(dataDir, 'tls', 'cert.pem');
  const keyFile = join(dataDir, 'tls', 'key.pem');
  const cert1 = await readFile(certFile, 'utf8');
  const key1 = await readFile(keyFile, 'utf8');
  assert.equal((await stat(keyFile)).mode & 0o777, 0o600);
  assert.equal((await stat(join(dataDir, 'tls'))).mode & 0o777, 0o700);

  const second = await TlsContextProvider.create({ cert: null, key: null, dataDir, hostname: 'mx.test', logger });
  assert.equal(await readFile(certFile, 'utf8'), cert1);
  assert.equal(await readFile(keyFile, 'utf8'), key1);

  // Both contexts serve the same stored certificate, valid for mx.test.
  const expected = new X509Certificate(cert1).fingerprint256;
  for (const provider of [first, second]) {
    const server = await serve(provider);
    try {
      assert.equal(await handshake(server.port, cert1, 'mx.test'), expected);
    } finally {
      await server.close();
    }
  }
});

test('a stored pair for another hostname is replaced', async () => {
  const dataDir = fresh();
  const { logger } = recordingLogger();
  await TlsContextProvider.create({ cert: null, key: null, dataDir, hostname: 'old.test', logger });
  await TlsContextProvider.create({ cert: null, key: null, dataDir, hostname: 'new.test', logger });
  const x509 = new X509Certificate(await readFile(join(dataDir, 'tls', 'cert.pem')));
  assert.equal(x509.subjectAltName, 'DNS:new.test');
});

test('a damaged stored pair is made again', async () => {
  const dataDir = fresh();
  const { logger } = recordingLogger();
  await TlsContextProvider.create({ cert: null, key: null, dataDir, hostname: 'mx.test', logger });
  await writeFile(join(dataDir, 'tls', 'cert.pem'), 'garbage');
  await TlsContextProvider.create({ cert: null, key: null, dataDir, hostname: 'mx.test', logger });
  assert.equal(new X509Certificate(await readFile(join(dataDir, 'tls', 'cert.pem'))).subjectAltName, 'DNS:mx.test');
});

test('a configured pair is served, and reload picks up a new one', async () => {
  const certFile = join(dir, 'configured-cert.pem');
  const keyFile = join(dir, 'configured-key.pem');
  const a = await generateSelfSigned('mx.test');
  await writeFile(certFile, a.cert);
  await writeFile(keyFile, a.key);
  const { logger } = recordingLogger();
  const provider = await TlsContextProvider.create({ cert: certFile, key: keyFile, dataDir: fresh(), hostname: 'mx.test', logger });
  const server = await serve(provider);
  try {
    assert.equal(await handshake(server.port, a.cert, 'mx.test'), new X509Certificate(a.cert).fingerprint256);

    const b = await generateSelfSigned('mx.test');
    await writeFile(certFile, b.cert);
    await writeFile(keyFile, b.key);
    await provider.reload();
    assert.equal(await handshake(server.port, b.cert, 'mx.test'), new X509Certificate(b.cert).fingerprint256);
  } finally {
    await server.close();
  }
});

test('a failed reload keeps the previous context and logs why', async () => {
  const certFile = join(dir, 'reload-cert.pem');
  const keyFile = join(dir, 'reload-key.pem');
  const a = await generateSelfSigned('mx.test');
  await writeFile(certFile, a.cert);
  await writeFile(keyFile, a.key);
  const { logger, lines } = recordingLogger();
  const provider = await TlsContextProvider.create({ cert: certFile, key: keyFile, dataDir: fresh(), hostname: 'mx.test', logger });
  const before = provider.current();
  await writeFile(certFile, 'not a certificate');
  await provider.reload();
  assert.equal(provider.current(), before);
  const failed = lines.find((l) => l.event === 'tls-reload-failed');
  assert.ok(failed !== undefined);
  assert.match(String(failed.msg), new RegExp(`${certFile}: not a PEM certificate`));
});

test('configured files that are missing, invalid or mismatched are named in the error', async () => {
  const { logger } = recordingLogger();
  const a = await generateSelfSigned('mx.test');
  const b = await generateSelfSigned('mx.test');
  const certFile = join(dir, 'bad-cert.pem');
  const keyFile = join(dir, 'bad-key.pem');
  const missing = join(dir, 'nope.pem');
  const create = (cert: string, key: string) => TlsContextProvider.create({ cert, key, dataDir: fresh(), hostname: 'mx.test', logger });

  await writeFile(certFile, a.cert);
  await writeFile(keyFile, a.key);
  await assert.rejects(create(missing, keyFile), { message: `TLS certificate ${missing}: cannot read (ENOENT)` });
  await assert.rejects(create(certFile, missing), { message: `TLS key ${missing}: cannot read (ENOENT)` });
  await writeFile(keyFile, 'garbage');
  await assert.rejects(create(certFile, keyFile), (err: Error) => err.message.startsWith(`TLS key ${keyFile}: not an unencrypted PEM private key`));
  await writeFile(keyFile, b.key);
  await assert.rejects(create(certFile, keyFile), { message: `TLS key ${keyFile} does not belong to the certificate ${certFile}` });
});

test('a configured certificate for another name is used, with a warning', async () => {
  const a = await generateSelfSigned('other.test');
  const certFile = join(dir, 'other-cert.pem');
  const keyFile = join(dir, 'other-key.pem');
  await writeFile(certFile, a.cert);
  await writeFile(keyFile, a.key);
  const { logger, lines } = recordingLogger();
  await TlsContextProvider.create({ cert: certFile, key: keyFile, dataDir: fresh(), hostname: 'mx.test', logger });
  assert.ok(lines.some((l) => l.event === 'tls-name-mismatch'));
});
