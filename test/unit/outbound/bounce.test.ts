// The bounce: an RFC 3464 report in an RFC 6522 multipart/report, checked by parsing its MIME structure.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { test } from 'node:test';
import { DkimSigner } from '../../../src/mailauth/dkim-signer.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { buildBounce, queueBounce } from '../../../src/outbound/bounce.js';
import { newRecipient, type QueueItem, type QueueRecipient } from '../../../src/outbound/queue-item.js';
import { makeTestKeys } from '../../helpers/dkim.js';
import { addr, SAMPLE_BODY, T0 } from '../../helpers/queue-fixtures.js';

const original: QueueItem = {
  id: 'abc123',
  from: 'alice@origin.test',
  reversePath: addr('alice@origin.test'),
  created: new Date(T0).toISOString(),
  size: 100,
  eightBit: false,
  smtputf8: false,
  recipients: [],
};

function failed(address: string, fields: Partial<QueueRecipient>): QueueRecipient {
  return { ...newRecipient(address, addr(address)), status: 'failed', attempts: 1, lastAttempt: new Date(T0 + 60_000).toISOString(), ...fields };
}

const bob = failed('bob@dest.test', { diagnostic: '550 5.1.1 <bob@dest.test>: No such user', lastError: '550 5.1.1 <bob@dest.test>: No such user', dsnStatus: '5.1.1', remoteMta: 'mx1.dest.test' });
const carol = failed('carol@slow.test', { diagnostic: '451 4.4.1 Connection timed out', lastError: 'delivery time expired: 451 4.4.1 Connection timed out', dsnStatus: '4.4.7', remoteMta: null });
const headers = Buffer.from(SAMPLE_BODY.slice(0, SAMPLE_BODY.indexOf('\n\n') + 1));

interface Part {
  headers: Map<string, string>;
  body: string;
}

/** A small MIME reader: top-level headers, the boundary parameter, and the parts between delimiters. */
function parse(message: string): { headers: Map<string, string>; boundary: string; parts: Part[]; preamble: string } {
  const split = (text: string): { headers: Map<string, string>; body: string } => {
    const end = text.indexOf('\n\n');
    const head = text.slice(0, end).replace(/\n[ \t]+/g, ' ');
    const map = new Map<string, string>();
    for (const line of head.split('\n')) {
      const colon = line.indexOf(':');
      map.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
    }
    return { headers: map, body: text.slice(end + 2) };
  };
  const top = split(message);
  const boundary = /boundary="([^"]+)"/.exec(top.headers.get('content-type') ?? '')?.[1];
  assert.ok(boundary !== undefined, 'boundary parameter');
  const pieces = top.body.split(`\n--${boundary}`);
  const preamble = pieces.shift() ?? '';
  const last = pieces.pop();
  assert.equal(last, '--\n', 'closing delimiter ends the message');
  const parts = pieces.map((p) => split(p.slice(1)));
  return { headers: top.headers, boundary, parts, preamble };
}

const fields = (block: string): Map<string, string> =>
  new Map(block.split('\n').filter((l) => l !== '').map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]));

test('the bounce is a multipart/report with the three RFC 6522 parts', () => {
  const text = buildBounce({ hostname: 'relay.test', original, failed: [bob, carol], headers, date: new Date(T0 + 120_000), messageId: '<b1@relay.test>' }).toString('utf8');
  assert.ok(!text.includes('\r'), 'stored bodies use LF line endings');
  const mime = parse(text);
  const h = mime.headers;
  assert.equal(h.get('from'), 'MAILER-DAEMON@relay.test');
  assert.equal(h.get('to'), 'alice@origin.test');
  assert.equal(h.get('subject'), 'Undelivered Mail Returned to Sender');
  assert.equal(h.get('date'), 'Sun, 1 Mar 2026 12:02:00 +0000');
  assert.equal(h.get('message-id'), '<b1@relay.test>');
  assert.equal(h.get('mime-version'), '1.0');
  assert.equal(h.get('auto-submitted'), 'auto-replied');
  assert.match(h.get('content-type') ?? '', /^multipart\/report; report-type=delivery-status; boundary="[^"]+"$/);

  assert.equal(mime.parts.length, 3);
  const [human, status, quoted] = mime.parts as [Part, Part, Part];
  assert.match(human.headers.get('content-type') ?? '', /^text\/plain/);
  assert.match(human.body, /<bob@dest\.test>: 550 5\.1\.1 <bob@dest\.test>: No such user/);
  assert.match(human.body, /<carol@slow\.test>: delivery time expired: 451 4\.4\.1 Connection timed out/);

  assert.equal(status.headers.get('content-type'), 'message/delivery-status');
  const blocks = status.body.trimEnd().split('\n\n').map(fields);
  assert.equal(blocks.length, 3, 'per-message block + one block per failed recipient');
  const [perMessage, b, c] = blocks as [Map<string, string>, Map<string, string>, Map<string, string>];
  assert.equal(perMessage.get('Reporting-MTA'), 'dns; relay.test');
  assert.equal(perMessage.get('Arrival-Date'), 'Sun, 1 Mar 2026 12:00:00 +0000');
  assert.equal(b.get('Final-Recipient'), 'rfc822; bob@dest.test');
  assert.equal(b.get('Action'), 'failed');
  assert.equal(b.get('Status'), '5.1.1');
  assert.equal(b.get('Remote-MTA'), 'dns; mx1.dest.test');
  assert.equal(b.get('Diagnostic-Code'), 'smtp; 550 5.1.1 <bob@dest.test>: No such user');
  assert.equal(b.get('Last-Attempt-Date'), 'Sun, 1 Mar 2026 12:01:00 +0000');
  assert.equal(c.get('Final-Recipient'), 'rfc822; carol@slow.test');
  assert.equal(c.get('Status'), '4.4.7');
  assert.equal(c.has('Remote-MTA'), false, 'no Remote-MTA when no host was reached');
  assert.equal(c.get('Diagnostic-Code'), 'smtp; 451 4.4.1 Connection timed out');

  assert.equal(quoted.headers.get('content-type'), 'text/rfc822-headers');
  assert.equal(quoted.body, `${headers.toString()}`);
  assert.ok(!quoted.body.includes('Hello Bob.'), 'headers only, never the body');

  for (const part of mime.parts) assert.ok(!part.body.includes(mime.boundary), 'the boundary never occurs in a part');
});

test('a boundary that occurs in the content is replaced', () => {
  const clash = Buffer.from(`X-Trap: --fixed-boundary\n`);
  const text = buildBounce({ hostname: 'relay.test', original, failed: [bob], headers: clash, date: new Date(T0), messageId: '<b2@relay.test>', boundary: () => 'fixed-boundary' }).toString();
  const mime = parse(text);
  assert.notEqual(mime.boundary, 'fixed-boundary');
  assert.equal(mime.parts.length, 3);
});

test('a diagnostic with line breaks cannot add header fields or parts', () => {
  const evil = failed('bob@dest.test', { diagnostic: '550 no\r\nBcc: victim@evil.test\n\n--x', lastError: '550 no\r\nBcc: victim@evil.test', dsnStatus: '5.0.0', remoteMta: 'mx\nX-Injected: 1' });
  const text = buildBounce({ hostname: 'relay.test', original, failed: [evil], headers, date: new Date(T0), messageId: '<b3@relay.test>' }).toString();
  assert.ok(!/^Bcc:/m.test(text));
  assert.ok(!/^X-Injected:/m.test(text));
  assert.equal(parse(text).parts.length, 3);
});

test('our own diagnosis is not labelled as an SMTP reply; a missing Status defaults to 5.0.0', () => {
  const refused = failed('dan@nowhere.test', { diagnostic: 'connection refused by mx.nowhere.test [192.0.2.1]', lastError: 'x', dsnStatus: null, remoteMta: null });
  const text = buildBounce({ hostname: 'relay.test', original, failed: [refused], headers, date: new Date(T0), messageId: '<b4@relay.test>' }).toString();
  assert.match(text, /^Diagnostic-Code: X-Facteur; connection refused by mx\.nowhere\.test \[192\.0\.2\.1\]$/m);
  assert.match(text, /^Status: 5\.0\.0$/m);
});

test('an internationalised address uses the RFC 6533 global report types', () => {
  const u = failed('jösé@dest.test', { diagnostic: '550 5.1.1 unknown', lastError: '550 5.1.1 unknown', dsnStatus: '5.1.1' });
  const text = buildBounce({ hostname: 'relay.test', original: { ...original, smtputf8: true }, failed: [u], headers, date: new Date(T0), messageId: '<b5@relay.test>' }).toString();
  const mime = parse(text);
  assert.match(mime.headers.get('content-type') ?? '', /report-type=global-delivery-status/);
  assert.equal(mime.parts[1]?.headers.get('content-type'), 'message/global-delivery-status');
  assert.equal(mime.parts[2]?.headers.get('content-type'), 'message/global-headers');
  assert.match(text, /^Final-Recipient: utf-8; jösé@dest\.test$/m);
});

test('a signed bounce: DKIM-Signature fields for the host name\'s parent domain on top, counted in the size', async () => {
  const keys = await makeTestKeys([['origin.test', 'sel', 'ed25519']]);
  try {
    const stored: { item: QueueItem; body: Buffer }[] = [];
    const store = {
      readHeaders: async () => headers,
      newId: () => 'b1',
      add: async (item: QueueItem, body: Buffer) => {
        stored.push({ item, body });
        return item;
      },
    };
    const ctx = { store, hostname: 'mx.origin.test', logger: silentLogger(), now: T0 + 120_000, signer: new DkimSigner({ keys: keys.keys }) };
    await queueBounce(ctx, original, [bob]);
    const [{ item, body }] = stored as [{ item: QueueItem; body: Buffer }];
    assert.match(body.toString('utf8'), /^DKIM-Signature: [^]*\bd=origin\.test;[^]*\bs=sel;[^]*\nFrom: MAILER-DAEMON@mx\.origin\.test\n/);
    assert.equal(item.size, body.length);
  } finally {
    await rm(dirname(keys.keyDir), { recursive: true, force: true });
  }
});
