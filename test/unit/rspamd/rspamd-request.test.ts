// The message text as rspamd gets it: every LF a CRLF, whatever the chunk boundaries.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { toCrlf } from '../../../src/rspamd/rspamd-request.js';

test('LF → CRLF', () => {
  const cases: [string, string][] = [
    ['', ''],
    ['no line end', 'no line end'],
    ['\n', '\r\n'],
    ['a\nb\n', 'a\r\nb\r\n'],
    ['\n\n\nx', '\r\n\r\n\r\nx'],
  ];
  for (const [input, output] of cases) assert.equal(toCrlf(Buffer.from(input)).toString('latin1'), output, JSON.stringify(input));
});

test('chunk by chunk, the same as the whole (property)', () => {
  fc.assert(
    fc.property(fc.array(fc.string({ unit: fc.constantFrom('a', 'é', '\n', '.', ' ') })), (parts) => {
      const whole = toCrlf(Buffer.from(parts.join(''))).toString('utf8');
      const pieced = parts.map((p) => toCrlf(Buffer.from(p)).toString('utf8')).join('');
      assert.equal(pieced, whole);
      assert.equal(whole, parts.join('').replace(/\n/g, '\r\n'));
    }),
  );
});
