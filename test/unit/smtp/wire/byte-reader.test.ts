// Tests of ByteReader: CRLF lines, limits, bare LF, EOF, shared buffering with read(), timeouts, errors, detach.
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { ByteReader, ConnectionClosedError, type LineResult } from '../../../../src/smtp/wire/byte-reader.js';

/** A reader over a stream already holding the chunks (ended unless told otherwise). */
function readerOver(chunks: readonly (string | Buffer)[], opts: { end?: boolean; highWaterMark?: number } = {}) {
  const stream = new PassThrough();
  const reader = new ByteReader(stream, opts.highWaterMark === undefined ? {} : { highWaterMark: opts.highWaterMark });
  for (const c of chunks) stream.write(typeof c === 'string' ? Buffer.from(c, 'latin1') : c);
  if (opts.end !== false) stream.end();
  return { stream, reader };
}

/** Every result until eof, lines shown as latin1 strings. */
async function allLines(reader: ByteReader, maxLength: number): Promise<string[]> {
  const out: string[] = [];
  for (;;) {
    const r = await reader.readLine(maxLength);
    if (r.kind === 'eof') return out;
    out.push(show(r));
  }
}

const show = (r: LineResult): string => (r.kind === 'line' ? `line:${r.line.toString('latin1')}` : r.kind);

describe('ByteReader.readLine', () => {
  const cases: { name: string; input: string; max?: number; want: string[] }[] = [
    { name: 'two lines', input: 'EHLO a\r\nQUIT\r\n', want: ['line:EHLO a', 'line:QUIT'] },
    { name: 'empty line', input: '\r\n', want: ['line:'] },
    { name: 'NUL and lone CR kept for the server to check', input: 'a\0b\rc\r\n', want: ['line:a\0b\rc'] },
    { name: 'bare LF', input: 'abc\nNOOP\r\n', want: ['bare-lf', 'line:NOOP'] },
    { name: 'lone LF', input: '\nNOOP\r\n', want: ['bare-lf', 'line:NOOP'] },
    { name: 'CR CR LF is a line ending in CR', input: 'a\r\r\n', want: ['line:a\r'] },
    { name: 'partial last line dropped at eof', input: 'NOOP\r\nQUI', want: ['line:NOOP'] },
    { name: 'exactly maxLength with CRLF', input: '12345678\r\nX\r\n', max: 10, want: ['line:12345678', 'line:X'] },
    { name: 'one over maxLength', input: '123456789\r\nX\r\n', max: 10, want: ['too-long', 'line:X'] },
    { name: 'far over maxLength', input: `${'y'.repeat(100)}\r\nX\r\n`, max: 10, want: ['too-long', 'line:X'] },
    { name: 'too long and bare LF: too-long', input: `${'y'.repeat(100)}\nX\r\n`, max: 10, want: ['too-long', 'line:X'] },
    { name: 'too long then eof', input: 'y'.repeat(100), max: 10, want: [] },
    { name: 'maxLength with bare LF', input: '123456789\nX\r\n', max: 10, want: ['bare-lf', 'line:X'] },
  ];
  for (const c of cases) {
    it(`${c.name}: whole, and split at every byte`, async () => {
      const max = c.max ?? 512;
      assert.deepEqual(await allLines(readerOver([c.input]).reader, max), c.want);
      for (let i = 1; i < c.input.length; i++) {
        const got = await allLines(readerOver([c.input.slice(0, i), c.input.slice(i)]).reader, max);
        assert.deepEqual(got, c.want, `split at ${i}`);
      }
      const bytes = [...c.input];
      assert.deepEqual(await allLines(readerOver(bytes).reader, max), c.want, 'one byte per chunk');
    });
  }

  it('returns a view of the chunk when one chunk holds the line', async () => {
    const chunk = Buffer.from('MAIL FROM:<a@b>\r\n');
    const { reader } = readerOver([chunk]);
    const r = await reader.readLine(512);
    assert.equal(r.kind, 'line');
    if (r.kind === 'line') assert.equal(r.line.buffer, chunk.buffer);
  });

  it('never buffers much more than maxLength while skipping a long line', async () => {
    const { stream, reader } = readerOver([], { end: false });
    const pending = reader.readLine(512);
    let peak = 0;
    const chunk = Buffer.alloc(1000, 0x41);
    for (let i = 0; i < 200; i++) {
      stream.write(chunk);
      await new Promise((resolve) => setImmediate(resolve));
      peak = Math.max(peak, reader.buffered);
    }
    stream.end('\r\nNEXT\r\n');
    assert.deepEqual(await pending, { kind: 'too-long' });
    assert.ok(peak <= 512 + chunk.length, `peak ${peak}`);
    assert.equal(show(await reader.readLine(512)), 'line:NEXT');
  });

  it('waits for the rest of a line', async () => {
    const { stream, reader } = readerOver([], { end: false });
    const pending = reader.readLine(512);
    stream.write('HE');
    stream.write('LO x\r');
    stream.write('\n');
    assert.equal(show(await pending), 'line:HELO x');
    stream.end();
    assert.deepEqual(await reader.readLine(512), { kind: 'eof' });
  });
});

describe('ByteReader.read and buffering', () => {
  it('shares bytes between line mode and read()', async () => {
    const { reader } = readerOver(['DATA\r\nhello', ' world']);
    assert.equal(show(await reader.readLine(512)), 'line:DATA');
    assert.equal(reader.buffered, 11);
    assert.equal((await reader.read())?.toString(), 'hello');
    assert.equal((await reader.read())?.toString(), ' world');
    assert.equal(await reader.read(), null);
    assert.equal(await reader.read(), null);
  });

  it('unshift puts bytes back in front', async () => {
    const { reader } = readerOver(['B\r\n']);
    await new Promise((resolve) => setImmediate(resolve));
    reader.unshift(Buffer.from('A\r\n'));
    assert.equal(reader.buffered, 6);
    assert.deepEqual(await allLines(reader, 512), ['line:A', 'line:B']);
  });

  it('discardBuffered drops what was received and says how much', async () => {
    const { stream, reader } = readerOver(['STARTTLS\r\nMAIL FROM:<x@y>\r\n'], { end: false });
    assert.equal(show(await reader.readLine(512)), 'line:STARTTLS');
    assert.equal(reader.buffered, 17);
    assert.equal(reader.discardBuffered(), 17);
    assert.equal(reader.buffered, 0);
    stream.end('QUIT\r\n');
    assert.deepEqual(await allLines(reader, 512), ['line:QUIT']);
  });

  it('a second concurrent read throws', async () => {
    const { stream, reader } = readerOver([], { end: false });
    const pending = reader.readLine(512);
    assert.throws(() => reader.read(), /already pending/);
    assert.throws(() => reader.readLine(512), /already pending/);
    stream.end('X\r\n');
    assert.equal(show(await pending), 'line:X');
  });

  it('pauses the stream above highWaterMark and resumes when asked for more', async () => {
    const { stream, reader } = readerOver([], { end: false, highWaterMark: 8 });
    stream.write('0123456789');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(stream.isPaused(), true);
    assert.equal((await reader.read())?.toString(), '0123456789');
    const next = reader.read();
    assert.equal(stream.isPaused(), false);
    stream.end('more');
    assert.equal((await next)?.toString(), 'more');
  });
});

describe('ByteReader failures', () => {
  it('an aborted signal rejects the wait with its reason', async () => {
    const { stream, reader } = readerOver([], { end: false });
    const ac = new AbortController();
    const reason = new Error('stop');
    const pending = reader.readLine(512, ac.signal);
    ac.abort(reason);
    await assert.rejects(pending, (e) => e === reason);
    // The reader is usable again.
    stream.end('X\r\n');
    assert.equal(show(await reader.readLine(512)), 'line:X');
  });

  it('an already aborted signal rejects at once', async () => {
    const { stream, reader } = readerOver([], { end: false });
    await assert.rejects(reader.read(AbortSignal.abort(new Error('gone'))), /gone/);
    stream.destroy();
  });

  it('a timeout rejects with the TimeoutError', async () => {
    const { stream, reader } = readerOver([], { end: false });
    // AbortSignal.timeout's timer is unref'd: keep the event loop alive (in the server, the socket does).
    const keepAlive = setInterval(() => undefined, 60_000);
    try {
      await assert.rejects(reader.readLine(512, AbortSignal.timeout(5)), (e: Error) => e.name === 'TimeoutError');
    } finally {
      clearInterval(keepAlive);
      stream.destroy();
    }
  });

  it('buffered lines are returned without waiting, even with an aborted signal', async () => {
    const { stream, reader } = readerOver(['X\r\n'], { end: false });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(show(await reader.readLine(512, AbortSignal.abort())), 'line:X');
    stream.destroy();
  });

  it('a stream error rejects the pending read', async () => {
    const { stream, reader } = readerOver([], { end: false });
    const pending = reader.read();
    stream.destroy(new Error('ECONNRESET'));
    await assert.rejects(pending, /ECONNRESET/);
    await assert.rejects(reader.readLine(512), /ECONNRESET/);
  });

  it('a destroyed stream without error is eof', async () => {
    const { stream, reader } = readerOver([], { end: false });
    const pending = reader.readLine(512);
    stream.destroy();
    assert.deepEqual(await pending, { kind: 'eof' });
  });
});

describe('ByteReader.detach', () => {
  it('removes its listeners, leaves the stream paused and intact, and later bytes stay in the stream', async () => {
    const stream = new PassThrough();
    const before = ['data', 'end', 'close', 'error'].map((e) => stream.listenerCount(e));
    const reader = new ByteReader(stream);
    stream.write('STARTTLS\r\n');
    assert.equal(show(await reader.readLine(512)), 'line:STARTTLS');
    reader.detach();
    assert.deepEqual(['data', 'end', 'close', 'error'].map((e) => stream.listenerCount(e)), before);
    assert.equal(stream.destroyed, false);
    assert.equal(stream.isPaused(), true);
    stream.write('client hello');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(stream.read()?.toString(), 'client hello');
    assert.throws(() => reader.read(), /detach/);
    stream.destroy();
  });

  it('rejects a read pending at detach as a closed connection (the server hung up: not a bug to log)', async () => {
    const stream = new PassThrough();
    const reader = new ByteReader(stream);
    const pending = reader.read();
    reader.detach();
    await assert.rejects(pending, ConnectionClosedError);
    stream.destroy();
  });
});

describe('ByteReader abort listener kept between waits', () => {
  it('one listener on a signal used for many waits, moved to another signal, and gone at detach', async () => {
    const { stream, reader } = readerOver([], { end: false });
    const session = new AbortController();
    for (const line of ['EHLO a', 'MAIL FROM:<>', 'RCPT TO:<b@c>']) {
      const pending = reader.readLine(512, session.signal);
      stream.write(`${line}\r\n`);
      assert.equal(show(await pending), `line:${line}`);
      assert.equal(getEventListeners(session.signal, 'abort').length, 1);
    }
    const other = new AbortController();
    const pending = reader.read(other.signal);
    stream.write('x');
    assert.equal((await pending)?.toString(), 'x');
    assert.equal(getEventListeners(session.signal, 'abort').length, 0);
    assert.equal(getEventListeners(other.signal, 'abort').length, 1);
    reader.detach();
    assert.equal(getEventListeners(other.signal, 'abort').length, 0);
    stream.destroy();
  });

  it('a signal aborted after its wait ended does not end a later wait made without it', async () => {
    const { stream, reader } = readerOver([], { end: false });
    const first = new AbortController();
    const pending = reader.readLine(512, first.signal);
    stream.write('NOOP\r\n');
    assert.equal(show(await pending), 'line:NOOP');
    const later = reader.readLine(512);
    first.abort(new Error('too late'));
    stream.write('QUIT\r\n');
    assert.equal(show(await later), 'line:QUIT');
    stream.destroy();
  });

  it('the kept signal still ends the wait it was given to', async () => {
    const { stream, reader } = readerOver([], { end: false });
    const session = new AbortController();
    const one = reader.readLine(512, session.signal);
    stream.write('NOOP\r\n');
    await one;
    const two = reader.readLine(512, session.signal);
    session.abort(new DOMException('no command', 'TimeoutError'));
    await assert.rejects(two, (e: Error) => e.name === 'TimeoutError');
    stream.destroy();
  });
});
