// The SMTP client's STARTTLS options: by default nothing is refused and the facts come back (chain verdict, certificates);
// with a trust store the chain verifies; with rejectUnauthorized Node refuses a bad certificate in the handshake.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadTrustStore, type TrustStore } from '../../../../src/outbound/tls-policy/trust-store.js';
import { TlsHandshakeError } from '../../../../src/smtp/client/client-errors.js';
import { type ClientTimeouts, SmtpClient, type StartTlsOptions } from '../../../../src/smtp/client/smtp-client.js';
import { type SmtpPeer, startSmtpPeer } from '../../../helpers/smtp-peer.js';
import { createTestCa, type IssuedCert, writeCaFile } from '../../../helpers/test-ca.js';

const timeouts: ClientTimeouts = { connect: 2000, greeting: 3000, command: 3000, dataInit: 3000, dataBlock: 3000, dataEnd: 3000 };

describe('SmtpClient.startTls options', () => {
  let dir = '';
  let trust: TrustStore;
  let cert: IssuedCert;
  let peer: SmtpPeer;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'facteur-client-tls-'));
    const root = await createTestCa();
    const sub = await root.intermediate('client test intermediate');
    cert = await sub.issue(['mx.client.test']);
    trust = await loadTrustStore({ caFile: await writeCaFile(dir, [root]), systemBundle: null });
    peer = await startSmtpPeer({ host: '127.0.0.51', starttls: true, certificate: { cert: cert.chain, key: cert.key } });
  });
  after(async () => {
    await peer.close();
    await rm(dir, { recursive: true, force: true });
  });

  const session = async (opts?: StartTlsOptions) => {
    const client = await SmtpClient.connect({ host: peer.host, port: peer.port, localHostname: 'relay.test', timeouts });
    try {
      await client.ehlo();
      const info = await client.startTls(opts);
      return { protocol: info.protocol, authorized: info.authorized, error: info.authorizationError, chain: info.peerCertificates.map((c) => c.subject), tls: client.tls !== null };
    } finally {
      client.close();
    }
  };

  it('by default: the handshake goes on with a certificate nobody here trusts, and says so', async () => {
    const r = await session();
    assert.equal(r.authorized, false);
    assert.match(r.error ?? '', /UNABLE_TO_GET_ISSUER_CERT_LOCALLY|UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
    assert.deepEqual(r.chain.slice(0, 2), ['CN=mx.client.test', 'CN=client test intermediate']);
    assert.equal(r.tls, true);
  });

  it('with the trust store: the chain verifies (the name is left to the caller)', async () => {
    const r = await session({ servername: 'not-the-name.test', secureContext: trust.secureContext });
    assert.equal(r.authorized, true);
    assert.equal(r.error, null);
    assert.deepEqual(r.chain, ['CN=mx.client.test', 'CN=client test intermediate', 'CN=facteur test root CA']);
  });

  it('rejectUnauthorized: Node refuses an untrusted chain, or a name that does not match, in the handshake', async () => {
    await assert.rejects(session({ servername: 'mx.client.test', rejectUnauthorized: true }), TlsHandshakeError);
    await assert.rejects(session({ servername: 'other.client.test', secureContext: trust.secureContext, rejectUnauthorized: true }), TlsHandshakeError);
    assert.equal((await session({ servername: 'mx.client.test', secureContext: trust.secureContext, rejectUnauthorized: true })).authorized, true);
  });
});
