// Tests of readData: line endings, dots, SMTP smuggling variants, chunk splits, size limit, pipelining, EOF, timeout.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { isSmtpError } from '../../../../src/smtp/smtp-error.js';
import { ByteReader, ConnectionClosedError } from '../../../../src/smtp/wire/byte-reader.js';
import { type ReadDataOptions, readData } from '../../../../src/smtp/wire/read-data.js';

type Outcome = { out: string; error: 'bare' | 'nul' | 'size' | 'closed' | null; rest: string };

const roomy: ReadDataOptions = { maxBytes: 1 << 20, timeoutMs: 5_000 };

/** Runs readData over a stream holding the chunks, then ended; rest is what the next command would read. */
async function run(chunks: readonly string[], opts: ReadDataOptions = roomy): Promise<Outcome & { yields: number }> {
  const stream = new PassThrough();
  const reader = new ByteReader(stream);
  for (const c of chunks) if (c !== '') stream.write(Buffer.from(c, 'latin1'));
  stream.end();
  const parts: Buffer[] = [];
  let error: Outcome['error'] = null;
  try {
    for await (const part of readData(reader, opts)) parts.push(part);
  } catch (err) {
    error = classify(err);
  }
  const rest: Buffer[] = [];
  for (let b = await reader.read(); b !== null; b = await reader.read()) rest.push(b);
  return { out: Buffer.concat(parts).toString('latin1'), error, rest: Buffer.concat(rest).toString('latin1'), yields: parts.length };
}

function classify(err: unknown): Outcome['error'] {
  if (err instanceof ConnectionClosedError) return 'closed';
  if (isSmtpError(err) && err.reply.code === 550 && err.reply.enhanced === '5.6.0') return 'bare';
  if (isSmtpError(err) && err.reply.code === 552 && err.reply.enhanced === '5.3.4') return 'size';
  if (isSmtpError(err) && err.reply.code === 554 && err.reply.enhanced === '5.6.0') return 'nul';
  throw err;
}

/** What was yielded before a refusal does not matter (the sink is aborted): compare it for accepted messages only. */
const norm = (o: Outcome): Outcome => ({ out: o.error === null ? o.out : '', error: o.error, rest: o.rest });

const ok = (out: string, rest = ''): Outcome => ({ out, error: null, rest });
const bare = (rest = ''): Outcome => ({ out: '', error: 'bare', rest });

/** Input → outcome (the output is only compared for accepted messages). */
const cases: { name: string; input: string; want: Outcome }[] = [
  // Ends and dots, after chasquid's dotreader_test.
  { name: 'empty message', input: '.\r\n', want: ok('') },
  { name: 'one empty line', input: '\r\n.\r\n', want: ok('\n') },
  { name: 'one line', input: 'abc\r\n.\r\n', want: ok('abc\n') },
  { name: 'two lines', input: 'a\r\nb\r\n.\r\n', want: ok('a\nb\n') },
  { name: 'empty lines', input: '\r\n\r\n\r\n.\r\n', want: ok('\n\n\n') },
  { name: 'stuffed dot line', input: '..\r\n.\r\n', want: ok('.\n') },
  { name: 'stuffed dot then text', input: '..abc\r\n.\r\n', want: ok('.abc\n') },
  { name: 'dot then text loses the dot', input: '.abc\r\n.\r\n', want: ok('abc\n') },
  { name: 'dot space', input: '. \r\n.\r\n', want: ok(' \n') },
  { name: 'three dots', input: 'a\r\n...\r\n.\r\n', want: ok('a\n..\n') },
  { name: 'dots inside a line are content', input: 'a.b.\r\n.\r\n', want: ok('a.b.\n') },
  { name: 'dot line in the middle', input: 'a\r\n..\r\nb\r\n.\r\n', want: ok('a\n.\nb\n') },
  { name: '8-bit bytes pass', input: 'a\xff\x80\r\n.\r\n', want: ok('a\xff\x80\n') },
  { name: 'a NUL refuses the message, after the end of data', input: 'a\0b\r\n.\r\nQUIT\r\n', want: { out: '', error: 'nul', rest: 'QUIT\r\n' } },
  { name: 'a NUL at the very start', input: '\0\r\n.\r\n', want: { out: '', error: 'nul', rest: '' } },
  { name: 'a bare LF wins over a NUL', input: '\0\nb\r\n.\r\n', want: bare() },
  { name: 'pipelined command after the dot', input: 'a\r\n.\r\nQUIT\r\n', want: ok('a\n', 'QUIT\r\n') },
  { name: 'pipelined data-looking bytes', input: '.\r\n.\r\n', want: ok('', '.\r\n') },
  { name: 'pipelined partial', input: 'x\r\n.\r\nMAIL FR', want: ok('x\n', 'MAIL FR') },
  // Bare line endings: refused, and only CRLF.CRLF ends the data (SMTP smuggling).
  { name: 'bare LF in a line', input: 'a\nb\r\n.\r\n', want: bare() },
  { name: 'bare LF first', input: '\nb\r\n.\r\n', want: bare() },
  { name: 'bare CR in a line', input: 'a\rb\r\n.\r\n', want: bare() },
  { name: 'CR CR LF', input: 'a\r\r\n.\r\n', want: bare() },
  { name: 'LF.LF is not the end', input: 'a\n.\nb\r\n.\r\n', want: bare() },
  { name: 'LF.CRLF is not the end', input: 'a\n.\r\nb\r\n.\r\n', want: bare() },
  { name: 'CR.CRLF is not the end', input: 'a\r.\r\nb\r\n.\r\n', want: bare() },
  { name: 'CRLF.LF is not the end', input: 'a\r\n.\nb\r\n.\r\n', want: bare() },
  { name: 'CRLF.CR is not the end', input: 'a\r\n.\rb\r\n.\r\n', want: bare() },
  { name: 'CRLF.CRCRLF is not the end', input: 'a\r\n.\r\r\nb\r\n.\r\n', want: bare() },
  { name: 'dot LF first is not the end', input: '.\nb\r\n.\r\n', want: bare() },
  { name: 'LF.CRLF first is not the end', input: '\n.\r\nb\r\n.\r\n', want: bare() },
  { name: 'bare endings, then a pipelined command', input: 'a\nb\r\n.\r\nQUIT\r\n', want: bare('QUIT\r\n') },
  {
    name: 'smuggled second transaction stays inside the first',
    input: 'Subject: x\r\n\r\nhi\n.\r\nMAIL FROM:<evil@x>\r\nRCPT TO:<v@y>\r\nDATA\r\nforged\r\n.\r\nQUIT\r\n',
    want: bare('QUIT\r\n'),
  },
  {
    name: 'smuggling with CR.CR',
    input: 'hi\r.\rMAIL FROM:<evil@x>\r\n.\r\n',
    want: bare(),
  },
];

describe('readData: table', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const got = await run([c.input]);
      assert.deepEqual(norm(got), c.want);
    });
  }
});

describe('readData: the same input split anywhere gives the same result', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const input = c.input;
      for (let i = 1; i < input.length; i++) {
        const got = await run([input.slice(0, i), input.slice(i)]);
        assert.deepEqual(norm(got), c.want, `split at ${i}`);
      }
      if (input.length <= 40) {
        for (let i = 1; i < input.length; i++) {
          for (let j = i + 1; j < input.length; j++) {
            const got = await run([input.slice(0, i), input.slice(i, j), input.slice(j)]);
            assert.deepEqual(norm(got), c.want, `split at ${i} and ${j}`);
          }
        }
      }
      const got = await run([...input]);
      assert.deepEqual(norm(got), c.want, 'one byte per chunk');
    });
  }
});

describe('readData: chunks', () => {
  it('yields at most one buffer per chunk received', async () => {
    const chunks = ['a\r\nb\r\n', 'c\r\n..d\r\n', 'e\r\n.\r\n'];
    const got = await run(chunks);
    assert.equal(got.out, 'a\nb\nc\n.d\ne\n');
    assert.ok(got.yields <= chunks.length);
  });

  it('reads long messages in order', async () => {
    const line = `${'x'.repeat(70)}\r\n`;
    const body = line.repeat(5000);
    const chunks: string[] = [];
    for (let i = 0; i < body.length; i += 4093) chunks.push(body.slice(i, i + 4093));
    chunks.push('.\r\n');
    const got = await run(chunks);
    assert.equal(got.error, null);
    assert.equal(got.out, `${'x'.repeat(70)}\n`.repeat(5000));
  });
});

describe('readData: size limit', () => {
  // "abc\r\n" is 5 octets; "..\r\n" counts as ".\r\n", 3 octets.
  const sized: { input: string; maxBytes: number; want: Outcome }[] = [
    { input: 'abc\r\n.\r\n', maxBytes: 5, want: ok('abc\n') },
    { input: 'abc\r\n.\r\n', maxBytes: 4, want: { out: '', error: 'size', rest: '' } },
    { input: '..\r\n.\r\n', maxBytes: 3, want: ok('.\n') },
    { input: '..\r\n.\r\n', maxBytes: 2, want: { out: '', error: 'size', rest: '' } },
    { input: '.\r\n', maxBytes: 0, want: ok('') },
    { input: '\r\n.\r\n', maxBytes: 1, want: { out: '', error: 'size', rest: '' } },
    { input: 'abcdef\r\n.\r\nQUIT\r\n', maxBytes: 3, want: { out: '', error: 'size', rest: 'QUIT\r\n' } },
  ];
  for (const c of sized) {
    it(`${JSON.stringify(c.input)} with maxBytes ${c.maxBytes}`, async () => {
      for (let i = 0; i < c.input.length; i++) {
        const chunks = i === 0 ? [c.input] : [c.input.slice(0, i), c.input.slice(i)];
        const got = await run(chunks, { maxBytes: c.maxBytes, timeoutMs: 5_000 });
        assert.deepEqual({ error: got.error, rest: got.rest }, { error: c.want.error, rest: c.want.rest }, `split at ${i}`);
        if (c.want.error === null) assert.equal(got.out, c.want.out);
      }
    });
  }

  it('stops yielding past the limit but reads on to the final dot', async () => {
    const chunks = ['a'.repeat(10), 'b'.repeat(10), '\r\nMAIL FROM:<x@y>\r\n', '.\r\nNOOP\r\n'];
    const got = await run(chunks, { maxBytes: 15, timeoutMs: 5_000 });
    assert.equal(got.error, 'size');
    assert.equal(got.rest, 'NOOP\r\n');
    assert.ok(got.out.length <= 15, 'never yields past the limit');
  });
});

describe('readData: the connection', () => {
  it('EOF in the middle of the data is ConnectionClosedError', async () => {
    for (const input of ['', 'abc', 'abc\r\n', 'abc\r\n.', 'abc\r\n.\r', 'a\nb\r\n', 'x'.repeat(100)]) {
      const got = await run([input], { maxBytes: 10, timeoutMs: 5_000 });
      assert.equal(got.error, 'closed', JSON.stringify(input));
    }
  });

  it('a silent client times out with the TimeoutError', async () => {
    const stream = new PassThrough();
    const reader = new ByteReader(stream);
    stream.write('partial\r\n');
    // The wait's timer is unref'd: keep the event loop alive (in the server, the socket does).
    const keepAlive = setInterval(() => undefined, 60_000);
    try {
      const parts: string[] = [];
      await assert.rejects(
        (async () => {
          for await (const p of readData(reader, { maxBytes: 100, timeoutMs: 10 })) parts.push(p.toString());
        })(),
        (e: Error) => e.name === 'TimeoutError',
      );
      assert.deepEqual(parts, ['partial\n']);
    } finally {
      clearInterval(keepAlive);
      stream.destroy();
    }
  });

  it('a stream error propagates', async () => {
    const stream = new PassThrough();
    const reader = new ByteReader(stream);
    const done = (async () => {
      for await (const _ of readData(reader, roomy)) stream.destroy(new Error('ECONNRESET'));
    })();
    stream.write('abc\r\n');
    await assert.rejects(done, /ECONNRESET/);
  });

  it('a consumer that stops early still leaves the reader after the final dot', async () => {
    const stream = new PassThrough();
    const reader = new ByteReader(stream);
    stream.write('first\r\n');
    const gen = readData(reader, roomy);
    const first = await gen.next();
    assert.equal(first.value?.toString(), 'first\n');
    stream.end('second\r\n.\r\nRSET\r\n');
    await gen.return(undefined); // e.g. the sink failed: the server will answer after the dot
    assert.equal(show(await reader.readLine(512)), 'RSET');
  });
});

const show = (r: Awaited<ReturnType<ByteReader['readLine']>>): string =>
  r.kind === 'line' ? r.line.toString('latin1') : r.kind;
