// BodyHash: the canonical forms of RFC 6376 §3.4.5's example, RFC 8463's body hash, edge cases, and for random bodies
// cut at random places, the same hash as a plain whole-text rendering of §3.4.3 and §3.4.4.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { BodyHash, type BodyCanonicalization } from '../../../src/mailauth/body-hash.js';

const sha256 = (s: string) => createHash('sha256').update(s, 'latin1').digest('base64');

function hashOf(canon: BodyCanonicalization, chunks: readonly string[], limit: number | null = null): string {
  const h = new BodyHash(canon, 'sha256', limit);
  for (const c of chunks) h.update(Buffer.from(c, 'latin1'));
  return h.digest();
}

/** §3.4.3 and §3.4.4 applied to the whole text at once, line by line, as the RFC words them. */
function reference(canon: BodyCanonicalization, body: string): string {
  let lines = body.replace(/\r\n/g, '\n').split('\n');
  // The text after the last line ending is a last line without one (or nothing).
  if (lines[lines.length - 1] === '') lines.pop();
  if (canon === 'relaxed') lines = lines.map((l) => l.replace(/[ \t]+/g, ' ').replace(/ $/, ''));
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  if (lines.length === 0) return canon === 'simple' ? '\r\n' : '';
  return `${lines.join('\r\n')}\r\n`;
}

describe('BodyHash', () => {
  test('RFC 6376 §3.4.5: the example body in both canonical forms', () => {
    const body = ' C \r\nD \t E\r\n\r\n\r\n';
    assert.equal(hashOf('relaxed', [body]), sha256(' C\r\nD E\r\n'));
    assert.equal(hashOf('simple', [body]), sha256(' C \r\nD \t E\r\n'));
  });

  test('RFC 8463 Appendix A: bh= of the example body, with CRLF or LF line endings', () => {
    const body = 'Hi.\r\n\r\nWe lost the game.  Are you hungry yet?\r\n\r\nJoe.\r\n';
    assert.equal(hashOf('relaxed', [body]), '2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=');
    assert.equal(hashOf('relaxed', [body.replace(/\r\n/g, '\n')]), '2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=');
  });

  const cases: { name: string; body: string; relaxed: string; simple: string }[] = [
    { name: 'empty body', body: '', relaxed: '', simple: '\r\n' },
    { name: 'only empty lines', body: '\n\r\n\n', relaxed: '', simple: '\r\n' },
    { name: 'whitespace-only lines are empty for relaxed only', body: 'a\n \t \n  \n', relaxed: 'a\r\n', simple: 'a\r\n \t \r\n  \r\n' },
    { name: 'a last line without its line ending', body: 'a\nb', relaxed: 'a\r\nb\r\n', simple: 'a\r\nb\r\n' },
    { name: 'empty lines inside the body are kept', body: 'a\n\n\nb\n\n', relaxed: 'a\r\n\r\n\r\nb\r\n', simple: 'a\r\n\r\n\r\nb\r\n' },
    { name: 'leading whitespace becomes one space (relaxed)', body: '\t  x  y\t\n', relaxed: ' x y\r\n', simple: '\t  x  y\t\r\n' },
    { name: 'a CR not followed by LF is text', body: 'a\rb\n', relaxed: 'a\rb\r\n', simple: 'a\rb\r\n' },
    { name: 'a CR at the very end is text', body: 'a\r', relaxed: 'a\r\r\n', simple: 'a\r\r\n' },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.equal(hashOf('relaxed', [c.body]), sha256(c.relaxed), 'relaxed');
      assert.equal(hashOf('simple', [c.body]), sha256(c.simple), 'simple');
    });
  }

  test('l= hashes only that many canonical octets, and counts them', () => {
    const h = new BodyHash('relaxed', 'sha256', 5);
    h.update(Buffer.from('abc\ndef\n'));
    assert.equal(h.digest(), sha256('abc\r\n'));
    assert.equal(h.bodyHashedBytes, 5);
    assert.equal(h.canonicalizedLength, 10);
  });

  test('a line end that fills the output buffer exactly loses nothing after it (lines of every length around 4 and 16 KiB)', () => {
    // TAB and a lone CR keep these bodies off the plain-text path: the octet loop and its buffer are what is tested.
    for (const base of [4095, 16384]) {
      for (let length = base - 8; length <= base + 8; length++) {
        const body = `\tx\ry${'a'.repeat(length)}\nb\n\n\nc\n`;
        for (const canon of ['relaxed', 'simple'] as const) {
          assert.equal(hashOf(canon, [body]), sha256(reference(canon, body)), `${canon}, line of ${length}`);
          assert.equal(hashOf(canon, [body.slice(0, 100), body.slice(100)]), sha256(reference(canon, body)), `${canon}, line of ${length}, two chunks`);
        }
      }
    }
  });

  test('a chunk larger than the 64 KiB slices hashes as the same text given in small chunks', () => {
    const mixed = Buffer.from('Hello  world \n\nplain line\n\tx\r\n'.repeat(20_000)); // 700 KB
    const plain = Buffer.from('a plain line of text\n\n'.repeat(40_000)); // 880 KB, the plain-text path
    for (const [canon, text] of [['relaxed', mixed], ['simple', mixed], ['relaxed', plain], ['simple', plain]] as const) {
      const whole = new BodyHash(canon);
      whole.update(text);
      const small = new BodyHash(canon);
      for (let i = 0; i < text.length; i += 1000) small.update(text.subarray(i, i + 1000));
      assert.equal(whole.digest(), small.digest(), canon);
      assert.equal(whole.byteLength, text.length);
      assert.equal(whole.canonicalizedLength, small.canonicalizedLength);
    }
  });

  test('large runs of empty and whitespace lines cost no memory: a counter, not buffers', () => {
    const h = new BodyHash('relaxed');
    const blank = Buffer.from(' \n'.repeat(512 * 1024));
    const before = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < 20; i++) h.update(blank); // 20 MiB of whitespace lines
    assert.ok(process.memoryUsage().arrayBuffers - before < 4 * 1024 * 1024, 'held back as a count');
    h.update(Buffer.from('x\n'));
    h.digest();
    assert.equal(h.canonicalizedLength, 20 * 512 * 1024 * 2 + 3);
  });

  test('LF text that only needs CRLF (hashed without the octet loop), cut anywhere, with or without l=, hashes as the whole-text rendering (property)', () => {
    // No CR, TAB or space run: most chunks take the plain path; a space at a chunk's end or before a LF does not.
    const piece = fc.constantFrom('word', 'x', ' ', '.', '\n', '\n\n', ' y', 'z ');
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 60 }), fc.array(fc.nat(200), { maxLength: 6 }), fc.option(fc.nat(120)), (pieces, cuts, limit) => {
        const body = pieces.join('');
        const at = [...new Set(cuts.map((c) => c % (body.length + 1)))].sort((x, y) => x - y);
        const chunks = [0, ...at].map((start, i) => body.slice(start, at[i] ?? body.length));
        for (const canon of ['relaxed', 'simple'] as const) {
          const want = reference(canon, body);
          assert.equal(hashOf(canon, chunks, limit), sha256(limit === null ? want : want.slice(0, limit)), `${canon} l=${limit}: ${JSON.stringify(body)}`);
        }
      }),
      { numRuns: 1000 },
    );
  });

  test('any body, cut anywhere, hashes as the whole-text rendering (property)', () => {
    const piece = fc.constantFrom('a', 'b', ' ', '\t', '\n', '\r\n', '  ', '.');
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 60 }), fc.array(fc.nat(80), { maxLength: 6 }), (pieces, cuts) => {
        const body = pieces.join('');
        const at = [...new Set(cuts.map((c) => c % (body.length + 1)))].sort((x, y) => x - y);
        const chunks = [0, ...at].map((start, i) => body.slice(start, at[i] ?? body.length));
        for (const canon of ['relaxed', 'simple'] as const) assert.equal(hashOf(canon, chunks), sha256(reference(canon, body)), `${canon}: ${JSON.stringify(body)}`);
      }),
      { numRuns: 500 },
    );
  });
});
