// The servers' TLS profile, checked with an independent client (OpenSSL's s_client): no renegotiation, no CBC or
// static-RSA suite at TLS 1.2, the server's order wins, and session resumption still works.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { startFacteur, type Facteur } from '../helpers/facteur.js';

const openssl = spawnSync('openssl', ['version'], { encoding: 'utf8' });
const skip = openssl.status === 0 ? false : 'openssl is not installed (apt-get install openssl)';

/** Runs s_client to its end with stdin closed at once; stdout and stderr together. */
function sClient(port: number, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, ...args], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 15_000 });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.once('error', reject);
    child.once('close', () => resolve(out));
  });
}

/** The cipher s_client says was negotiated, or "(NONE)" when the handshake failed. */
const negotiated = (out: string): string => /Cipher is (\S+)/.exec(out)?.[1] ?? '(no handshake)';

describe('TLS profile (openssl s_client)', { skip }, () => {
  let facteur: Facteur;
  before(async () => {
    facteur = await startFacteur();
  });
  after(() => facteur.stop());

  for (const cipher of ['AES128-SHA', 'AES256-SHA256', 'AES128-GCM-SHA256', 'ECDHE-RSA-AES128-SHA', 'ECDHE-RSA-AES256-SHA384', 'DHE-RSA-AES128-GCM-SHA256']) {
    test(`TLS 1.2 with only ${cipher} offered: no handshake`, async () => {
      const out = await sClient(facteur.port('tls'), ['-tls1_2', '-cipher', cipher]);
      assert.equal(negotiated(out), '(NONE)', out);
    });
  }

  test('TLS 1.2: forward-secret AEAD suites only, in the server order', async () => {
    const out = await sClient(facteur.port('tls'), ['-tls1_2', '-cipher', 'ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256']);
    assert.equal(negotiated(out), 'ECDHE-RSA-AES128-GCM-SHA256', out);
  });

  test('TLS 1.3 works as it is, and TLS 1.1 is refused', async () => {
    assert.match(negotiated(await sClient(facteur.port('tls'), ['-tls1_3'])), /^TLS_/);
    assert.equal(negotiated(await sClient(facteur.port('tls'), ['-tls1_1', '-cipher', 'ALL:@SECLEVEL=0'])), '(NONE)');
  });

  test('session resumption works: TLS 1.2 (s_client -reconnect) and TLS 1.3 (a ticket, with Node as the client)', async () => {
    const out = await sClient(facteur.port('tls'), ['-tls1_2', '-reconnect']);
    assert.match(out, /^Reused, TLSv1\.2/m, out);

    // TLS 1.3 tickets come after the handshake: wait for one, then offer it on a second connection.
    const port = facteur.port('tls');
    const first = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, minVersion: 'TLSv1.3' });
    first.on('error', () => undefined);
    const [ticket] = (await once(first, 'session')) as [Buffer];
    first.destroy();
    const second = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, minVersion: 'TLSv1.3', session: ticket });
    await once(second, 'secureConnect');
    assert.equal(second.isSessionReused(), true);
    second.destroy();
  });

  test('a client-initiated renegotiation is refused, and the server carries on', async () => {
    const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${facteur.port('tls')}`, '-tls1_2', '-crlf'], { stdio: ['pipe', 'pipe', 'pipe'], timeout: 15_000 });
    let out = '';
    const seen = (pattern: RegExp): Promise<void> =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          if (pattern.test(out)) resolve();
        };
        child.stdout.on('data', check);
        child.stderr.on('data', check);
        child.once('close', () => (pattern.test(out) ? resolve() : reject(new Error(`s_client ended without ${pattern}: ${out}`))));
        check();
      });
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (out += s));
    await seen(/^220 /m);
    child.stdin.write('R\n'); // s_client's own command: renegotiate
    await seen(/no renegotiation|handshake failure|alert/i);
    child.kill();
    const d = await facteur.connect('tls');
    await d.expect(220);
    d.close();
  });
});
