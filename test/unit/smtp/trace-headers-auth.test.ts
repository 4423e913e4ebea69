// The Received header after AUTH: ESMTPSA / UTF8SMTPSA (RFC 3848), the login only when asked for.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Session } from '../../../src/smtp/server/session.js';
import { receivedHeader } from '../../../src/smtp/server/trace-headers.js';

const tls = { protocol: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384' };
const session = (over: Partial<Session>): Session => ({
  id: 's1', remoteAddress: '192.0.2.7', remotePort: 4000, localAddress: '192.0.2.1', localPort: 587,
  greeting: { name: 'laptop', esmtp: true }, tls, transaction: null, errors: 0, messages: 0, idleCommands: 0, ...over,
});
const tx = (smtputf8: boolean) => ({ reversePath: null, params: { size: null, eightBit: smtputf8, smtputf8 }, recipients: [{ local: 'r', domain: 'x.example' }] });
const date = new Date(Date.UTC(2026, 10, 23, 9, 5, 7));
const auth = (receivedAs: string | null) => ({ login: 'alice@example.org', mailbox: 'alice', receivedAs });

test('protocol names with and without a login', () => {
  const cases: [Partial<Session>, boolean, string][] = [
    [{ auth: auth(null) }, false, 'ESMTPSA'],
    [{ auth: auth(null) }, true, 'UTF8SMTPSA'],
    [{ auth: null }, false, 'ESMTPS'],
    [{}, false, 'ESMTPS'],
  ];
  for (const [over, utf8, want] of cases) {
    assert.match(receivedHeader({ session: session(over), transaction: tx(utf8), hostname: 'mx.test', date }), new RegExp(`with ${want} id s1\\n`));
  }
});

test('the login is named only when the session says so, and cannot break out of its comment', () => {
  assert.doesNotMatch(receivedHeader({ session: session({ auth: auth(null) }), transaction: tx(false), hostname: 'mx.test', date }), /authenticated/);
  const h = receivedHeader({ session: session({ auth: auth('alice@example.org') }), transaction: tx(false), hostname: 'mx.test', date });
  assert.match(h, /\n\t\(version=TLSv1\.3 cipher=TLS_AES_256_GCM_SHA384\)\n\t\(authenticated as alice@example\.org\)\n\tfor <r@x\.example>; /);
  const odd = receivedHeader({ session: session({ auth: auth('x)\n(y@z') }), transaction: tx(false), hostname: 'mx.test', date });
  assert.match(odd, /\(authenticated as x\?\?\?y@z\)\n/);
});
