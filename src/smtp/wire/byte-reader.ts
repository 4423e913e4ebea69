// ByteReader: one buffered reader over the socket, shared by command lines and DATA so pipelined bytes are never lost or read twice.
import type { Readable } from 'node:stream';

const CR = 0x0d;
const LF = 0x0a;

export type LineResult =
  /** The line without its CRLF; it may hold NUL or a lone CR in the middle (the server checks). */
  | { kind: 'line'; line: Buffer }
  /** Longer than maxLength: everything up to and including the next LF was discarded. */
  | { kind: 'too-long' }
  /** Ended by LF without the CR before it (RFC 5321 §2.3.8): the whole line was discarded. */
  | { kind: 'bare-lf' }
  /** The peer closed: no more complete lines (a partial last line is dropped). */
  | { kind: 'eof' };

/** The peer closed the connection while more bytes were needed. */
export class ConnectionClosedError extends Error {
  constructor(message = 'Connection closed by the peer', options?: ErrorOptions) {
    super(message, options);
    this.name = 'ConnectionClosedError';
  }
}

interface Waiter {
  resolve(): void;
  reject(err: unknown): void;
  /** The signal this wait may be aborted by. */
  readonly signal: AbortSignal | undefined;
}

/**
 * ByteReader listens to 'data'/'end'/'error'/'close' instead of using the stream's async iterator: leaving an
 * async iterator destroys the socket, and STARTTLS must detach from the plain socket and hand it to TLS intact.
 */
export class ByteReader {
  readonly #stream: Readable;
  readonly #highWaterMark: number;
  /** Received, not yet consumed; the first chunk may be a tail of what arrived. */
  #chunks: Buffer[] = [];
  #size = 0;
  #ended = false;
  #failure: { error: unknown } | null = null;
  #waiter: Waiter | null = null;
  #busy = false;
  #detached = false;
  /**
   * The signal our abort listener is on. It stays there between waits: a session passes the same signal for every
   * command (command-wait.ts), and adding and removing an EventTarget listener for each of them was a measurable
   * share of a short session's CPU. It moves when a wait brings another signal, and leaves at detach().
   */
  #signal: AbortSignal | undefined = undefined;

  constructor(stream: Readable, opts: { highWaterMark?: number } = {}) {
    this.#stream = stream;
    this.#highWaterMark = opts.highWaterMark ?? 64 * 1024;
    if (stream.readableEnded || stream.destroyed) this.#ended = true;
    stream.on('data', this.#onData);
    stream.on('end', this.#onEnd);
    stream.on('close', this.#onEnd);
    stream.on('error', this.#onError);
  }

  /** Bytes received but not yet consumed (RFC 3207 §4.2: anything pipelined behind STARTTLS must be thrown away). */
  get buffered(): number {
    return this.#size;
  }

  /**
   * Reads one line ended by CRLF. maxLength counts the line's octets including the CRLF (RFC 5321 §4.5.3.1.4).
   * A line too long is skipped to its LF without ever holding more than about maxLength plus one chunk.
   */
  readLine(maxLength: number, signal?: AbortSignal): Promise<LineResult> {
    this.#enter();
    return this.#readLine(maxLength, signal).finally(() => {
      this.#busy = false;
    });
  }

  /** Next bytes: the buffered ones first, else waits for the next chunk; null at EOF. */
  read(signal?: AbortSignal): Promise<Buffer | null> {
    this.#enter();
    return this.#read(signal).finally(() => {
      this.#busy = false;
    });
  }

  /** Puts unused bytes back in front (read-data does it when the final dot is found mid-chunk). */
  unshift(buf: Buffer): void {
    if (this.#detached) throw new Error('ByteReader: used after detach()');
    if (buf.length === 0) return;
    this.#chunks.unshift(buf);
    this.#size += buf.length;
  }

  /** Drops the buffered bytes and returns how many there were. */
  discardBuffered(): number {
    const n = this.#size;
    this.#chunks = [];
    this.#size = 0;
    return n;
  }

  /**
   * Removes every listener this reader put on the stream, without destroying or resuming it; the reader is unusable
   * afterwards. The stream is left paused, so bytes arriving later (a TLS ClientHello) stay in the stream's own
   * buffer, where a tls.TLSSocket wrapping it will find them.
   */
  detach(): void {
    if (this.#detached) return;
    this.#detached = true;
    const s = this.#stream;
    s.off('data', this.#onData);
    s.off('end', this.#onEnd);
    s.off('close', this.#onEnd);
    s.off('error', this.#onError);
    s.pause();
    this.#listen(undefined);
    const w = this.#waiter;
    this.#waiter = null;
    w?.reject(new ConnectionClosedError('connection closed by the server'));
  }

  async #readLine(maxLength: number, signal: AbortSignal | undefined): Promise<LineResult> {
    let scanned = 0; // buffered bytes already known to hold no LF
    let discarding = false; // the line is already too long: drop until its LF
    for (;;) {
      const lf = this.#indexOfLf(scanned);
      if (lf >= 0) {
        if (discarding || lf + 1 > maxLength) {
          this.#skip(lf + 1);
          return { kind: 'too-long' };
        }
        if (lf === 0 || this.#byteAt(lf - 1) !== CR) {
          this.#skip(lf + 1);
          return { kind: 'bare-lf' };
        }
        const line = this.#take(lf - 1);
        this.#skip(2);
        return { kind: 'line', line };
      }
      scanned = this.#size;
      if (discarding || this.#size >= maxLength) {
        // Even an LF as the next byte would make the line longer than allowed: stop keeping its bytes.
        discarding = true;
        this.discardBuffered();
        scanned = 0;
      }
      if (!(await this.#waitForMore(signal))) {
        this.discardBuffered();
        return { kind: 'eof' };
      }
    }
  }

  async #read(signal: AbortSignal | undefined): Promise<Buffer | null> {
    while (this.#size === 0) {
      if (!(await this.#waitForMore(signal))) return null;
    }
    const chunk = this.#chunks.shift()!;
    this.#size -= chunk.length;
    return chunk;
  }

  #enter(): void {
    if (this.#detached) throw new Error('ByteReader: used after detach()');
    if (this.#busy) throw new Error('ByteReader: a read is already pending');
    this.#busy = true;
  }

  /** Waits for more bytes; false at EOF. Rejects with the stream's error or the signal's reason. */
  #waitForMore(signal: AbortSignal | undefined): Promise<boolean> {
    if (this.#failure !== null) return Promise.reject(this.#failure.error);
    if (this.#ended) return Promise.resolve(false);
    if (signal?.aborted) return Promise.reject(signal.reason);
    // Waiting means the consumer wants bytes: undo any backpressure pause (and one made by someone else before us).
    if (this.#stream.isPaused()) this.#stream.resume();
    const before = this.#size;
    if (signal !== undefined) this.#listen(signal);
    return new Promise<boolean>((resolve, reject) => {
      this.#waiter = { resolve: () => resolve(this.#size > before), reject, signal };
    });
  }

  /** Moves our abort listener to `signal` (off any signal when undefined). */
  #listen(signal: AbortSignal | undefined): void {
    if (signal === this.#signal) return;
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#signal = signal;
    signal?.addEventListener('abort', this.#onAbort);
  }

  readonly #onAbort = (): void => {
    const w = this.#waiter;
    // Only a wait made with that signal ends; one made without a signal (or with another) goes on.
    if (w === null || w.signal === undefined || w.signal !== this.#signal) return;
    this.#waiter = null;
    w.reject(w.signal.reason);
  };

  #wake(): void {
    const w = this.#waiter;
    this.#waiter = null;
    w?.resolve();
  }

  readonly #onData = (chunk: Buffer | string): void => {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (buf.length === 0) return;
    this.#chunks.push(buf);
    this.#size += buf.length;
    // Backpressure: stop reading from the socket until the consumer asks for more.
    if (this.#size > this.#highWaterMark) this.#stream.pause();
    this.#wake();
  };

  readonly #onEnd = (): void => {
    this.#ended = true;
    this.#wake();
    this.#listen(undefined); // no wait can need it now; a timeout signal keeps no memory alive for our sake
  };

  readonly #onError = (err: Error): void => {
    this.#failure ??= { error: err };
    const w = this.#waiter;
    this.#waiter = null;
    w?.reject(err);
  };

  #indexOfLf(from: number): number {
    let offset = 0;
    for (const c of this.#chunks) {
      const end = offset + c.length;
      if (end > from) {
        const i = c.indexOf(LF, Math.max(0, from - offset));
        if (i >= 0) return offset + i;
      }
      offset = end;
    }
    return -1;
  }

  #byteAt(pos: number): number | undefined {
    let offset = 0;
    for (const c of this.#chunks) {
      if (pos < offset + c.length) return c[pos - offset];
      offset += c.length;
    }
    return undefined;
  }

  /** Removes and returns the first n buffered bytes (no copy when one chunk holds them). */
  #take(n: number): Buffer {
    const first = this.#chunks[0];
    if (n === 0 || first === undefined) return Buffer.alloc(0);
    if (first.length >= n) {
      const out = first.subarray(0, n);
      this.#skip(n);
      return out;
    }
    const parts: Buffer[] = [];
    let need = n;
    for (const c of this.#chunks) {
      if (need === 0) break;
      const part = c.length <= need ? c : c.subarray(0, need);
      parts.push(part);
      need -= part.length;
    }
    this.#skip(n);
    return Buffer.concat(parts, n);
  }

  #skip(n: number): void {
    let left = n;
    while (left > 0) {
      const c = this.#chunks[0];
      if (c === undefined) break;
      if (c.length <= left) {
        this.#chunks.shift();
        left -= c.length;
      } else {
        this.#chunks[0] = c.subarray(left);
        left = 0;
      }
    }
    this.#size -= n - left;
  }
}
