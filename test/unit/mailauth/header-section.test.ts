// HeaderSection: where the header section ends, whatever the chunking and line endings; the limit; no body kept.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HeaderSection } from '../../../src/mailauth/header-section.js';

/** Feeds `chunks`; returns the header section and the body as received after it. */
function split(chunks: readonly string[], limit?: number): { state: string; header: string | null; body: string } {
  const h = new HeaderSection(limit);
  let body = '';
  for (const c of chunks) {
    if (h.state === 'complete') body += c;
    else if (h.state === 'reading') {
      const rest = h.push(Buffer.from(c, 'latin1'));
      if (rest !== null) body += rest.toString('latin1');
    }
  }
  h.end();
  return { state: h.state, header: h.header?.toString('latin1') ?? null, body };
}

describe('HeaderSection', () => {
  const cases: { name: string; chunks: string[]; header: string; body: string }[] = [
    { name: 'LF endings', chunks: ['A: 1\nB: 2\n\nbody\n'], header: 'A: 1\nB: 2\n\n', body: 'body\n' },
    { name: 'CRLF endings', chunks: ['A: 1\r\n\r\nbody\r\n'], header: 'A: 1\r\n\r\n', body: 'body\r\n' },
    { name: 'the empty line split over chunks', chunks: ['A: 1\n', '\n', 'body'], header: 'A: 1\n\n', body: 'body' },
    { name: 'CR and LF of the empty line in two chunks', chunks: ['A: 1\r\n\r', '\nbody'], header: 'A: 1\r\n\r\n', body: 'body' },
    { name: 'a line split over chunks is not empty', chunks: ['A: 1\nB', '\n\nx'], header: 'A: 1\nB\n\n', body: 'x' },
    { name: 'a folded line is not the end', chunks: ['A: 1\n 2\n\nx'], header: 'A: 1\n 2\n\n', body: 'x' },
    { name: 'no body at all', chunks: ['A: 1\nB: 2\n'], header: 'A: 1\nB: 2\n', body: '' },
    { name: 'an empty first line: no header fields', chunks: ['\nbody'], header: '\n', body: 'body' },
    { name: 'one octet at a time', chunks: [...'A: 1\r\n\r\nxy'], header: 'A: 1\r\n\r\n', body: 'xy' },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const r = split(c.chunks);
      assert.equal(r.state, 'complete');
      assert.equal(r.header, c.header);
      assert.equal(r.body, c.body);
    });
  }

  test('past the limit: too-large, and nothing is kept', () => {
    const r = split(['A: 1\n', 'B: '.padEnd(100, 'x'), '\n\nbody'], 64);
    assert.equal(r.state, 'too-large');
    assert.equal(r.header, null);
  });

  test('the limit counts the empty line too', () => {
    assert.equal(split(['A: 1\n\n'], 6).state, 'complete');
    assert.equal(split(['A: 1\n\n'], 5).state, 'too-large');
  });
});
