// Dot-stuffing for the client: LF → CRLF, leading dots doubled, a final CRLF, at every chunk split.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { describe, it } from 'node:test';
import { DotStuffer, dotStuff } from '../../../../src/smtp/wire/dot-stuff.js';

const cases: { name: string; input: string; wire: string }[] = [
  { name: 'empty message', input: '', wire: '' },
  { name: 'one line', input: 'hello\n', wire: 'hello\r\n' },
  { name: 'no final newline', input: 'hello', wire: 'hello\r\n' },
  { name: 'leading dot on the first line', input: '.hidden\n', wire: '..hidden\r\n' },
  { name: 'a lone dot line', input: 'a\n.\nb\n', wire: 'a\r\n..\r\nb\r\n' },
  { name: 'two dots', input: '..\n', wire: '...\r\n' },
  { name: 'dot not at line start is untouched', input: 'a.b\n a .\n', wire: 'a.b\r\n a .\r\n' },
  { name: 'dot as the very last byte', input: 'x\n.', wire: 'x\r\n..\r\n' },
  { name: 'empty lines', input: '\n\n', wire: '\r\n\r\n' },
  { name: 'CRLF kept as one line ending', input: 'a\r\nb\r\n', wire: 'a\r\nb\r\n' },
  { name: 'bare CR becomes a line ending (no <CR>.<CR> smuggling)', input: 'a\r.\rb\n', wire: 'a\r\n..\r\nb\r\n' },
  { name: 'CR then dot then CRLF', input: 'a\r.\r\n', wire: 'a\r\n..\r\n' },
  { name: 'end-of-data lookalike', input: 'a\n.\n\nQUIT\n', wire: 'a\r\n..\r\n\r\nQUIT\r\n' },
  { name: '8-bit bytes untouched', input: 'caf\u00e9\n', wire: 'caf\u00e9\r\n' },
];

/** Runs the stuffer over the input cut into the given pieces. */
function stuff(pieces: readonly Buffer[]): string {
  const s = new DotStuffer();
  const out = pieces.map((p) => s.push(p));
  out.push(s.end());
  return Buffer.concat(out).toString('utf8');
}

describe('DotStuffer', () => {
  for (const c of cases) {
    it(c.name, () => assert.equal(stuff([Buffer.from(c.input)]), c.wire));
  }

  it('gives the same output for every split into two and three pieces', () => {
    for (const c of cases) {
      const input = Buffer.from(c.input);
      for (let i = 0; i <= input.length; i++) {
        assert.equal(stuff([input.subarray(0, i), input.subarray(i)]), c.wire, `${c.name}: split at ${i}`);
        for (let j = i; j <= input.length; j++) {
          assert.equal(stuff([input.subarray(0, i), input.subarray(i, j), input.subarray(j)]), c.wire, `${c.name}: split at ${i}/${j}`);
        }
      }
    }
  });

  it('gives the same output one byte at a time', () => {
    for (const c of cases) {
      const input = Buffer.from(c.input);
      const bytes = [...input].map((b) => Buffer.from([b]));
      assert.equal(stuff(bytes), c.wire, c.name);
    }
  });

  it('never emits a bare CR or LF, and never a line that is a single dot', () => {
    const input = Buffer.from('\r\r\n\n.\r.\n..\r\n\r.x\n.');
    const wire = stuff([input]);
    assert.doesNotMatch(wire, /\r(?!\n)|(?<!\r)\n/);
    assert.ok(!wire.split('\r\n').includes('.'));
    assert.ok(wire.endsWith('\r\n'));
  });
});

describe('dotStuff() Transform', () => {
  it('stuffs a streamed message', async () => {
    const out = await text(Readable.from([Buffer.from('a\n.b'), Buffer.from('\n.'), Buffer.from('\nend')]).pipe(dotStuff()));
    assert.equal(out, 'a\r\n..b\r\n..\r\nend\r\n');
  });
});
