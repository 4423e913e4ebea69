import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatMessageDate, receivedHeader } from '../../../../src/smtp/server/trace-headers.js';
import type { Session } from '../../../../src/smtp/server/session.js';

const session = (over: Partial<Session> = {}): Session => ({
  id: 'abc', remoteAddress: '192.0.2.7', remotePort: 4000, localAddress: '192.0.2.1', localPort: 25,
  greeting: { name: 'client.example', esmtp: true }, tls: null, transaction: null, errors: 0, messages: 0, idleCommands: 0, ...over,
});
const tx = (n: number) => ({
  reversePath: { local: 'a', domain: 'b.example' },
  params: { size: null, eightBit: false, smtputf8: false },
  recipients: Array.from({ length: n }, (_, i) => ({ local: `r${i}`, domain: 'mx.test' })),
});
const date = new Date(Date.UTC(2026, 10, 23, 9, 5, 7));

test('RFC 5322 date in UTC', () => {
  assert.equal(formatMessageDate(date), 'Mon, 23 Nov 2026 09:05:07 +0000');
});

test('Received header names HELO, IP, our host, protocol, id and the single recipient', () => {
  const h = receivedHeader({ session: session(), transaction: tx(1), hostname: 'mx.test', date });
  assert.equal(h, 'Received: from client.example ([192.0.2.7])\n\tby mx.test (facteur) with ESMTP id abc\n\tfor <r0@mx.test>; Mon, 23 Nov 2026 09:05:07 +0000\n');
});

test('TLS sessions say ESMTPS and the TLS version; several recipients are not disclosed', () => {
  const h = receivedHeader({ session: session({ tls: { protocol: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384' } }), transaction: tx(2), hostname: 'mx.test', date });
  assert.match(h, /with ESMTPS id abc\n\t\(version=TLSv1\.3 cipher=TLS_AES_256_GCM_SHA384\)\n\tMon, 23 Nov/);
  assert.doesNotMatch(h, /for </);
});

test('HELO text cannot break out of the header', () => {
  const h = receivedHeader({ session: session({ greeting: { name: 'x(evil)\\', esmtp: false } }), transaction: tx(1), hostname: 'mx.test', date });
  assert.match(h, /^Received: from x\?evil\?\? \(\[192\.0\.2\.7\]\)\n\tby mx\.test \(facteur\) with SMTP id/);
});

test('controls, format and separator characters are escaped wherever they come from (HELO, TLS facts)', () => {
  const h = receivedHeader({
    session: session({
      greeting: { name: 'a\u0085Bcc: x\u2028y\u202Ez', esmtp: true },
      tls: { protocol: 'TLSv1.3', cipher: 'AES\u2029\u0090\u200B' },
    }),
    transaction: tx(1),
    hostname: 'mx.test',
    date,
  });
  assert.match(h, /^Received: from a\?Bcc:\?x\?y\?z \(/);
  assert.match(h, /cipher=AES\?\?\?\)/);
  assert.doesNotMatch(h.replace(/[ \t\n]/g, ''), /[\p{C}\p{Z}]/u);
});
