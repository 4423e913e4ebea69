// The header-side parts of DKIM written here for speed: the fields as signed (rawHeaderFields, selectSignedFields),
// the tag-list parser (RFC 6376 §3.2) and the relaxed header canonicalisation (§3.4.2), against the RFC's example and
// against mailauth's own functions on the inputs where the two must agree.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { relaxedHeaders } from 'mailauth/lib/dkim/header/relaxed.js';
import { parseHeaders } from 'mailauth/lib/tools.js';
import { parseTagList } from '../../../src/mailauth/dkim-tag-list.js';
import { rawHeaderFields, selectSignedFields } from '../../../src/mailauth/raw-header-fields.js';
import { relaxedSignedHeader } from '../../../src/mailauth/relaxed-header.js';

const fieldsOf = (text: string) => rawHeaderFields(Buffer.from(text, 'latin1')).map((f) => ({ key: f.key, casedKey: f.casedKey, line: f.line.toString('latin1') }));

describe('rawHeaderFields', () => {
  const cases: { name: string; section: string; fields: { key: string; casedKey: string; line: string }[] }[] = [
    { name: 'CRLF endings, the empty line ends it', section: 'A: 1\r\nB: 2\r\n\r\nC: body\r\n', fields: [{ key: 'a', casedKey: 'A', line: 'A: 1' }, { key: 'b', casedKey: 'B', line: 'B: 2' }] },
    { name: 'LF endings: folded lines joined with CRLF', section: 'Subject: a\n\tb\n  c\nTo: x\n\n', fields: [{ key: 'subject', casedKey: 'Subject', line: 'Subject: a\r\n\tb\r\n  c' }, { key: 'to', casedKey: 'To', line: 'To: x' }] },
    { name: 'WSP before the colon, the name cased as written', section: 'X-Thing  : v\n', fields: [{ key: 'x-thing', casedKey: 'X-Thing', line: 'X-Thing  : v' }] },
    { name: 'no empty line, no final line ending', section: 'A: 1\nB: 2', fields: [{ key: 'a', casedKey: 'A', line: 'A: 1' }, { key: 'b', casedKey: 'B', line: 'B: 2' }] },
    { name: 'a line without a colon is its own field', section: 'junk\nA: 1\n', fields: [{ key: 'junk', casedKey: 'junk', line: 'junk' }, { key: 'a', casedKey: 'A', line: 'A: 1' }] },
    { name: '8-bit octets kept as they are', section: 'Subject: caf\xc3\xa9\n\n', fields: [{ key: 'subject', casedKey: 'Subject', line: 'Subject: caf\xc3\xa9' }] },
  ];
  for (const c of cases) test(c.name, () => assert.deepEqual(fieldsOf(c.section), c.fields));

  test("the same fields as mailauth's parser on ordinary header sections", () => {
    const section = 'From: a@b.example\r\nTo: c@d.example,\r\n  e@f.example\r\nSubject:  hi\r\nDKIM-Signature: v=1; a=rsa-sha256;\r\n\tb=abc\r\n\r\n';
    const theirs = parseHeaders(Buffer.from(section)).parsed.map((f) => ({ key: f.key, casedKey: f.casedKey, line: f.line.toString('latin1') }));
    assert.deepEqual(fieldsOf(section), theirs);
  });
});

describe('selectSignedFields (RFC 6376 §5.4.2)', () => {
  const fields = rawHeaderFields(Buffer.from('Received: 1\nFrom: a\nReceived: 2\nTo: t\nReceived: 3\n\n'));
  const picked = (names: string[]) => selectSignedFields(fields, names).map((f) => f.line.toString());
  test('a repeated name takes the fields from the bottom up', () => assert.deepEqual(picked(['received', 'received']), ['Received: 3', 'Received: 2']));
  test('names match whatever their case', () => assert.deepEqual(picked(['FROM', 'To']), ['From: a', 'To: t']));
  test('a name with no field left selects nothing (the over-signed From)', () => assert.deepEqual(picked(['from', 'from', 'x-none']), ['From: a']));

  test('each field is read a bounded number of times, whatever h= holds (50,000 names over 50,000 fields fit in 256 KiB)', () => {
    const n = 20_000;
    const many = rawHeaderFields(Buffer.from('a: 1\n'.repeat(n)));
    let reads = 0;
    const counted = new Proxy(many, {
      get(target, prop, receiver) {
        if (typeof prop === 'string' && /^\d+$/.test(prop)) reads++;
        return Reflect.get(target, prop, receiver) as unknown;
      },
    });
    const out = selectSignedFields(counted, [...Array<string>(n).fill('a'), ...Array<string>(n).fill('A'), 'b']);
    assert.equal(out.length, n);
    assert.equal(out[0], many[n - 1]);
    assert.equal(out[n - 1], many[0]);
    assert.ok(reads <= 2 * n, `${reads} reads of ${n} fields for ${2 * n + 1} names`);
  });
});

describe('parseTagList (RFC 6376 §3.2)', () => {
  const cases: { name: string; text: string; tags: Record<string, string> | null }[] = [
    { name: 'plain', text: 'v=1; a=rsa-sha256; d=example.org', tags: { v: '1', a: 'rsa-sha256', d: 'example.org' } },
    { name: 'FWS around names and values, a final ;', text: ' v = 1 ;\r\n\td=example.org ; ', tags: { v: '1', d: 'example.org' } },
    { name: 'b=, bh= and h= lose their folding whitespace', text: 'b=ab\r\n cd ef; bh=AA BB=; h=From : To', tags: { b: 'abcdef', bh: 'AABB=', h: 'From:To' } },
    { name: 'an empty value', text: 'v=1; x=', tags: { v: '1', x: '' } },
    { name: 'tag names are case-sensitive', text: 'd=a; D=b', tags: { d: 'a', D: 'b' } },
    { name: 'a repeated tag makes the list invalid', text: 'v=1; d=a; d=b', tags: null },
    { name: 'a tag without "="', text: 'v=1; oops; d=a', tags: null },
    { name: 'an invalid tag name', text: '1v=1', tags: null },
  ];
  for (const c of cases) test(c.name, () => assert.deepEqual(c.tags === null ? null : Object.fromEntries(parseTagList(c.text) ?? []), c.tags === null ? parseTagList(c.text) : c.tags));
});

describe('relaxedSignedHeader (RFC 6376 §3.4.2, §3.7)', () => {
  const sig = Buffer.from('DKIM-Signature: v=1; a=rsa-sha256; d=example.org;\r\n\ts=sel; h=a:b; bh=AAAA;\r\n\tb=Zm9v\r\n YmFy');

  test('the example of §3.4.5', () => {
    const fields = rawHeaderFields(Buffer.from('A: X\r\nB : Y\t\r\n\tZ  \r\n\r\n'));
    const out = relaxedSignedHeader(fields, Buffer.from('DKIM-Signature: b=x'));
    assert.equal(out.toString(), 'a:X\r\nb:Y Z\r\ndkim-signature:b=');
  });

  test('b= emptied, bh= kept, the field unfolded with no final CRLF', () => {
    assert.equal(relaxedSignedHeader([], sig).toString(), 'dkim-signature:v=1; a=rsa-sha256; d=example.org; s=sel; h=a:b; bh=AAAA; b=');
  });

  test('a CR not followed by LF is an octet of the value: only CRLF unfolds (§3.4.2)', () => {
    const fields = rawHeaderFields(Buffer.from('Subject: a\rb \r\n\tc\r \r\n\r\n'));
    assert.equal(relaxedSignedHeader(fields, Buffer.from('DKIM-Signature: b=x')).toString('latin1'), 'subject:a\rb c\r\r\ndkim-signature:b=');
  });

  test('b= in the middle of the list', () => {
    assert.equal(relaxedSignedHeader([], Buffer.from('DKIM-Signature: v=1; b = Zm9v ; d=x')).toString(), 'dkim-signature:v=1; b =; d=x');
  });

  test("the same octets as mailauth's canonicalisation on ASCII fields", () => {
    const section = 'From:  Joe  <joe@example.org> \r\nTo: a@b.example,\r\n  c@d.example\r\nSubject:\tHello   there \r\nDate: Mon, 1 Dec 2026 10:00:00 +0000\r\n\r\n';
    const fields = rawHeaderFields(Buffer.from(section));
    const theirs = relaxedHeaders('DKIM', { keys: 'From: To: Subject: Date', headers: parseHeaders(Buffer.from(section)).parsed }, { signatureHeaderLine: sig.toString('latin1') } as unknown as Parameters<typeof relaxedHeaders>[2]);
    assert.equal(relaxedSignedHeader(fields, sig).toString('latin1'), theirs.canonicalizedHeader.toString('latin1'));
  });
});
