// The other direction of the DKIM interop tests: messages signed by a signer that is not ours, dkimpy (Debian's
// python3-dkim), with keys made here by node:crypto and published by a DNS server on loopback, sent over SMTP by
// nodemailer to the MX with inbound.verify = true. What facteur's verifier writes in the stored message's
// Authentication-Results: both key types, the four canonicalisations, l=, and the changes in transit that a signature
// must survive (relaxed header whitespace) or not (a body byte, simple header whitespace).
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import nodemailer from 'nodemailer';
import { dkimpySign, DKIMPY_SKIP, type DkimpySigning } from '../helpers/dkimpy.js';
import { startDnsServer, type DnsServer } from '../helpers/dns-server.js';
import { startFacteur, type Facteur } from '../helpers/facteur.js';
import { listMail, readMail, splitMessage } from '../helpers/maildir.js';

const T = { timeout: 30_000 };
const HELO = 'client.sender.example';
const FROM = 'alice@sender.example';

/**
 * A message from alice@sender.example to alice@example.org (CRLF), its Subject with runs of spaces that only relaxed
 * canonicalisation folds.
 */
function letter(subject: string): string {
  return [
    `From: Ann <${FROM}>`,
    'To: <alice@example.org>',
    `Subject: ${subject}  with   spaces`,
    'Date: Thu, 03 Dec 2026 09:00:00 +0000',
    `Message-ID: <${subject.replace(/\W+/g, '.')}@sender.example>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    'Hello Alice,',
    '.a line dot-stuffed on the wire',
    'trailing spaces   ',
    '',
    '',
  ].join('\r\n');
}

describe('DKIM signatures made by dkimpy, verified by the MX over SMTP', { skip: DKIMPY_SKIP }, () => {
  let dir: string;
  let dns: DnsServer;
  let f: Facteur;
  let rsa: Omit<DkimpySigning, 'canonicalization'>;
  let ed: Omit<DkimpySigning, 'canonicalization'>;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'facteur-dkimpy-'));
    // dkimpy reads RSA keys as PKCS#1 PEM and Ed25519 keys as the base64 of their 32-octet seed (RFC 8463 §3).
    const r = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await writeFile(join(dir, 'rsa.pem'), r.privateKey.export({ type: 'pkcs1', format: 'pem' }));
    const e = generateKeyPairSync('ed25519');
    const jwk = e.privateKey.export({ format: 'jwk' });
    await writeFile(join(dir, 'ed.key'), Buffer.from(jwk.d as string, 'base64url').toString('base64'));
    rsa = { keyFile: join(dir, 'rsa.pem'), domain: 'sender.example', selector: 'py-rsa', algorithm: 'rsa-sha256' };
    ed = { keyFile: join(dir, 'ed.key'), domain: 'sender.example', selector: 'py-ed', algorithm: 'ed25519-sha256' };
    dns = await startDnsServer({
      'sender.example': { TXT: ['v=spf1 ip4:127.0.0.1 -all'] },
      '_dmarc.sender.example': { TXT: ['v=DMARC1; p=reject'] },
      [HELO]: { A: ['127.0.0.1'], TXT: ['v=spf1 a -all'] },
      'py-rsa._domainkey.sender.example': { TXT: [`v=DKIM1; k=rsa; p=${r.publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`] },
      'py-ed._domainkey.sender.example': { TXT: [`v=DKIM1; k=ed25519; p=${Buffer.from(jwk.x as string, 'base64url').toString('base64')}`] },
    });
    f = await startFacteur({ toml: [`dns_servers = ["${dns.address}"]`, '[inbound]', 'verify = true', 'dmarc_policy = "enforce"'].join('\n') });
  });
  after(async () => {
    await f?.stop();
    await dns?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  /** The message with dkimpy's signatures on top, each made over `text` alone (neither signs the other). */
  async function signed(text: string, signings: readonly DkimpySigning[]): Promise<string> {
    const fields = await Promise.all(signings.map((s) => dkimpySign(s, text)));
    return fields.join('') + text;
  }

  /** Sends `raw` to alice@example.org; the stored message's Authentication-Results field (one, unfolded to one line). */
  async function deliver(raw: string): Promise<string> {
    const before = await listMail(f.maildirRoot, 'alice');
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: f.port('plain'), secure: false, ignoreTLS: true, name: HELO });
    try {
      const info = await transport.sendMail({ envelope: { from: FROM, to: ['alice@example.org'] }, raw });
      assert.match(info.response, /^250 /);
    } finally {
      transport.close();
    }
    const files = (await readMail(f.maildirRoot, 'alice')).filter((m) => !before.includes(m.name));
    assert.equal(files.length, 1);
    const ars = splitMessage(files[0]!.content)
      .header.split(/\n(?=\S)/)
      .filter((x) => /^Authentication-Results:/i.test(x));
    assert.equal(ars.length, 1);
    return ars[0]!.replace(/\n\s+/g, ' ');
  }

  const dkim = (ar: string): string[] => [...ar.matchAll(/\bdkim=(\w+)[^;]*header\.s=([\w-]+)/g)].map((m) => `${m[2]}=${m[1]}`);

  test('rsa-sha256 and ed25519-sha256, relaxed/relaxed: both pass, and DMARC passes', T, async () => {
    const ar = await deliver(await signed(letter('both keys'), [{ ...rsa, canonicalization: 'relaxed/relaxed' }, { ...ed, canonicalization: 'relaxed/relaxed' }]));
    assert.deepEqual(dkim(ar), ['py-rsa=pass', 'py-ed=pass']);
    assert.match(ar, /\bdkim=pass [^;]*header\.d=sender\.example header\.s=py-rsa header\.a=rsa-sha256/);
    assert.match(ar, /\bdkim=pass [^;]*header\.d=sender\.example header\.s=py-ed header\.a=ed25519-sha256/);
    assert.match(ar, /\bdmarc=pass [^;]*header\.from=sender\.example/);
  });

  test('simple/simple, relaxed/simple (dkimpy\'s default) and simple/relaxed pass too', T, async () => {
    const text = letter('canonicalisations');
    const ar = await deliver(
      await signed(text, [
        { ...rsa, canonicalization: 'simple/simple' },
        { ...ed, canonicalization: 'relaxed/simple' },
        { ...ed, canonicalization: 'simple/relaxed' },
      ]),
    );
    assert.deepEqual(dkim(ar), ['py-rsa=pass', 'py-ed=pass', 'py-ed=pass']);
  });

  test('a signature with l= passes', T, async () => {
    const ar = await deliver(await signed(letter('body length'), [{ ...rsa, canonicalization: 'relaxed/relaxed', length: true }]));
    assert.deepEqual(dkim(ar), ['py-rsa=pass']);
  });

  test('header whitespace changed in transit: relaxed still passes, simple fails', T, async () => {
    const text = letter('re-spaced');
    const raw = await signed(text, [{ ...rsa, canonicalization: 'relaxed/simple' }, { ...ed, canonicalization: 'simple/simple' }]);
    const ar = await deliver(raw.replace('re-spaced  with   spaces', 're-spaced with spaces'));
    assert.deepEqual(dkim(ar), ['py-rsa=pass', 'py-ed=fail']);
    assert.match(ar, /\bdmarc=pass\b/);
  });

  test('one body octet changed: both signatures fail on the body hash; DMARC still passes on aligned SPF', T, async () => {
    const raw = await signed(letter('tampered'), [{ ...rsa, canonicalization: 'relaxed/relaxed' }, { ...ed, canonicalization: 'simple/simple' }]);
    const ar = await deliver(raw.replace('Hello Alice,', 'Hello Alicf,'));
    assert.deepEqual(dkim(ar), ['py-rsa=fail', 'py-ed=fail']);
    assert.match(ar, /\bdkim=fail \([^)]*body hash[^)]*\)/);
    assert.match(ar, /\bspf=pass [^;]*smtp\.mailfrom=alice@sender\.example/);
    assert.match(ar, /\bdmarc=pass\b/);
  });
});
