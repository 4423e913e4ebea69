// Known answers: the signed example of RFC 8463 Appendix A verifies (keys served by a DNS server on loopback, read
// through a node:dns Resolver, as the program-wide resolver will be), and one changed octet breaks it; RFC 6376 §3.4.5's
// header example canonicalises as the RFC says, through the function the signer uses.
import assert from 'node:assert/strict';
import { Resolver } from 'node:dns/promises';
import { after, before, describe, test } from 'node:test';
import { relaxedHeaders } from 'mailauth/lib/dkim/header/relaxed.js';
import { parseHeaders } from 'mailauth/lib/tools.js';
import { DkimCheck } from '../../../src/mailauth/dkim-check.js';
import type { DnsResolve } from '../../../src/mailauth/dns-resolve.js';
import { startDnsServer, type DnsServer } from '../../helpers/dns-server.js';

// RFC 8463 Appendix A.2 (the records) and A.3 (the message, signed with both keys).
const ZONE = {
  'brisbane._domainkey.football.example.com': { TXT: ['v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo='] },
  'test._domainkey.football.example.com': {
    TXT: [
      [
        'v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWR',
        'iGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutAC',
        'DfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3',
        'Ip3G+2kryOTIKT+l/K4w3QIDAQAB',
      ],
    ],
  },
};
const RFC8463_A3 = [
  'DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;',
  ' d=football.example.com; i=@football.example.com;',
  ' q=dns/txt; s=brisbane; t=1528637909; h=from : to :',
  ' subject : date : message-id : from : subject : date;',
  ' bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;',
  ' b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus',
  ' Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==',
  'DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;',
  ' d=football.example.com; i=@football.example.com;',
  ' q=dns/txt; s=test; t=1528637909; h=from : to : subject :',
  ' date : message-id : from : subject : date;',
  ' bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;',
  ' b=F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3',
  ' DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tFOeS9mPYQTnGdaSGsgeefOsk2Jz',
  ' dA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8=',
  'From: Joe SixPack <joe@football.example.com>',
  'To: Suzie Q <suzie@shopping.example.net>',
  'Subject: Is dinner ready?',
  'Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)',
  'Message-ID: <20030712040037.46341.5F8J@football.example.com>',
  '',
  'Hi.',
  '',
  'We lost the game.  Are you hungry yet?',
  '',
  'Joe.',
  '',
].join('\r\n');

describe('RFC 8463 Appendix A through the DKIM check', () => {
  let dns: DnsServer;
  let resolve: DnsResolve;
  before(async () => {
    dns = await startDnsServer(ZONE);
    const resolver = new Resolver({ timeout: 2000, tries: 2 });
    resolver.setServers([dns.address]);
    resolve = (name, rrtype) => resolver.resolve(name, rrtype);
  });
  after(() => dns.close());

  /** [algorithm, result] of each signature of `message`, fed in chunks of `size` octets. */
  async function verify(message: string, size = 64 * 1024): Promise<[string, string][]> {
    const check = new DkimCheck(resolve);
    const bytes = Buffer.from(message, 'latin1');
    for (let i = 0; i < bytes.length; i += size) await check.write(bytes.subarray(i, i + size));
    const outcome = await check.finish();
    return outcome.results.map((r) => [r.algo ?? '', r.status.result]);
  }

  test('both signatures verify (CRLF as published, LF as facteur stores, cut in small chunks)', async () => {
    const want = [
      ['ed25519-sha256', 'pass'],
      ['rsa-sha256', 'pass'],
    ];
    assert.deepEqual(await verify(RFC8463_A3), want);
    assert.deepEqual(await verify(RFC8463_A3.replace(/\r\n/g, '\n')), want);
    assert.deepEqual(await verify(RFC8463_A3, 5), want);
  });

  test('one octet changed in the body fails both', async () => {
    const changed = RFC8463_A3.replace('We lost', 'We Lost');
    assert.deepEqual((await verify(changed)).map(([, r]) => r), ['fail', 'fail']);
  });

  test('one octet changed in a signed header field fails both', async () => {
    const changed = RFC8463_A3.replace('Subject: Is dinner ready?', 'Subject: Is dinner ready!');
    assert.deepEqual((await verify(changed)).map(([, r]) => r), ['fail', 'fail']);
  });

  test('relaxed canonicalisation absorbs whitespace changes in the body and the header', async () => {
    const reflowed = RFC8463_A3.replace('We lost the game.  Are', 'We lost the game.\t Are   ').replace('Subject: Is dinner', 'Subject:   Is \t dinner');
    assert.deepEqual((await verify(reflowed)).map(([, r]) => r), ['pass', 'pass']);
  });
});

test('RFC 6376 §3.4.5: the relaxed header canonicalisation of the example', () => {
  const { canonicalizedHeader } = relaxedHeaders(
    'DKIM',
    { keys: 'A: B', headers: parseHeaders(Buffer.from('A: X\r\nB : Y\t\r\n\tZ  \r\n\r\n')).parsed },
    { signingDomain: 'example.com', selector: 's', algorithm: 'rsa-sha256', canonicalization: 'relaxed/relaxed', bodyHash: 'x', signTime: new Date(0) },
  );
  // The signed fields, then the DKIM-Signature field itself without its final CRLF (RFC 6376 §3.7).
  assert.ok(canonicalizedHeader.toString('latin1').startsWith('a:X\r\nb:Y Z\r\ndkim-signature:v=1; '), canonicalizedHeader.toString('latin1'));
});
