// Property tests of readData: arbitrary bytes never crash it, never read past the first CRLF.CRLF, and match a reference model.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isSmtpError } from '../../../../src/smtp/smtp-error.js';
import { ByteReader, ConnectionClosedError } from '../../../../src/smtp/wire/byte-reader.js';
import { readData } from '../../../../src/smtp/wire/read-data.js';

type Outcome = { out: string; error: string | null; rest: string };

const MARKER = '\r\n.\r\n';

async function run(chunks: readonly Buffer[], maxBytes: number): Promise<Outcome> {
  const stream = new PassThrough();
  const reader = new ByteReader(stream);
  for (const c of chunks) if (c.length > 0) stream.write(c);
  stream.end();
  const parts: Buffer[] = [];
  let error: string | null = null;
  try {
    for await (const part of readData(reader, { maxBytes, timeoutMs: 5_000 })) parts.push(part);
  } catch (err) {
    if (err instanceof ConnectionClosedError) error = 'closed';
    else if (isSmtpError(err)) error = `${err.reply.code} ${err.reply.enhanced}`;
    else throw err; // anything else is a bug
  }
  const rest: Buffer[] = [];
  for (let b = await reader.read(); b !== null; b = await reader.read()) rest.push(b);
  return {
    out: error === null ? Buffer.concat(parts).toString('latin1') : '',
    error,
    rest: Buffer.concat(rest).toString('latin1'),
  };
}

/**
 * The reference, written the slow and obvious way: the data ends at the first CRLF "." CRLF (the data starts
 * after a CRLF); the body is CRLF-separated lines, each losing one leading dot; any other CR or LF refuses it.
 */
function reference(input: string, maxBytes: number): Outcome {
  const at = `\r\n${input}`.indexOf(MARKER);
  if (at < 0) return { out: '', error: 'closed', rest: '' };
  const body = input.slice(0, at); // ends with the CRLF before the dot, or is empty
  const rest = input.slice(at + 3);
  const lines = body === '' ? [] : body.slice(0, -2).split('\r\n');
  if (lines.some((l) => l.includes('\r') || l.includes('\n'))) return { out: '', error: '550 5.6.0', rest };
  if (lines.some((l) => l.includes('\0'))) return { out: '', error: '554 5.6.0', rest };
  const unstuffed = lines.map((l) => (l.startsWith('.') ? l.slice(1) : l));
  const size = unstuffed.reduce((n, l) => n + l.length + 2, 0);
  if (size > maxBytes) return { out: '', error: '552 5.3.4', rest };
  return { out: unstuffed.map((l) => `${l}\n`).join(''), error: null, rest };
}

/** Bytes rich in the ones that matter: CR, LF, dot, and some text. */
const wireBytes = fc
  .array(fc.oneof(fc.constantFrom('\r', '\n', '.', '\r\n', '\r\n.', '.\r\n', 'a', ' ', '\0'), fc.string({ maxLength: 4 })), {
    maxLength: 60,
  })
  .map((parts) => parts.join(''));

/** Cut points for splitting a string into chunks. */
const cuts = fc.array(fc.nat(), { maxLength: 6 });

function split(s: string, at: readonly number[]): Buffer[] {
  const points = [...new Set(at.map((n) => (s.length === 0 ? 0 : n % (s.length + 1))))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(Buffer.from(s.slice(prev, p), 'latin1'));
    prev = p;
  }
  out.push(Buffer.from(s.slice(prev), 'latin1'));
  return out;
}

/** The sender side: dot-stuffing and CRLF, done independently of the code under test (RFC 5321 §4.5.2). */
const stuff = (lines: readonly string[]): string => lines.map((l) => `${l.startsWith('.') ? '.' : ''}${l}\r\n`).join('') + '.\r\n';

describe('readData properties', () => {
  it('any bytes ending with CRLF.CRLF: only SMTP errors, and the same outcome as the reference, however split', async () => {
    await fc.assert(
      fc.asyncProperty(wireBytes, wireBytes, cuts, fc.integer({ min: 0, max: 80 }), async (data, after, at, maxBytes) => {
        const input = `${data}${MARKER}${after}`;
        const got = await run(split(input, at), maxBytes);
        const want = reference(input, maxBytes);
        assert.notEqual(got.error, 'closed');
        // A message both too big and with a bare line ending may get either refusal.
        if (want.error === '550 5.6.0' && got.error === '552 5.3.4') assert.deepEqual({ ...got, error: want.error }, want);
        else assert.deepEqual(got, want);
      }),
      { numRuns: 1000 },
    );
  });

  it('any bytes at all: never consumes past the first CRLF.CRLF, so one DATA is one message', async () => {
    await fc.assert(
      fc.asyncProperty(wireBytes, cuts, async (input, at) => {
        const got = await run(split(input, at), 1 << 20);
        const end = `\r\n${input}`.indexOf(MARKER);
        if (end < 0) assert.equal(got.error, 'closed');
        else assert.equal(got.rest, input.slice(end + 3));
      }),
      { numRuns: 1000 },
    );
  });

  it('arbitrary binary input never crashes it', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), cuts, async (bytes, at) => {
        const input = `${Buffer.from(bytes).toString('latin1')}${MARKER}`;
        await run(split(input, at), 100); // throws on anything but SmtpError / ConnectionClosedError
      }),
      { numRuns: 200 },
    );
  });

  it('a well-formed message round-trips exactly, with pipelined bytes left over', async () => {
    const line = fc
      .uint8Array({ maxLength: 40 })
      .map((b) => Buffer.from(b.filter((x) => x !== 0x0d && x !== 0x0a && x !== 0)).toString('latin1'));
    const dotty = fc.oneof(line, line.map((l) => `.${l}`), fc.constantFrom('.', '..', ''));
    await fc.assert(
      fc.asyncProperty(fc.array(dotty, { maxLength: 30 }), cuts, async (lines, at) => {
        const input = `${stuff(lines)}QUIT\r\n`;
        const got = await run(split(input, at), 1 << 20);
        assert.deepEqual(got, { out: lines.map((l) => `${l}\n`).join(''), error: null, rest: 'QUIT\r\n' });
      }),
      { numRuns: 600 },
    );
  });
});
