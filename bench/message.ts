// The bytes a load generator sends for one message, built once: headers, a body of 78-octet lines, the final dot.

/** What goes on the wire after the 354: `head`, then `middle` `repeat` times, then `tail` (ends in CRLF.CRLF). */
export interface MessageBytes {
  /** Octets of the message itself, CRLF line ends, final dot excluded. */
  readonly size: number;
  readonly head: Buffer;
  readonly middle: Buffer;
  readonly repeat: number;
  readonly tail: Buffer;
  /** For messages small enough: the whole transmission in one buffer, so each send is a single write. */
  readonly whole: Buffer | null;
}

const LINE = 78; // body line length, CRLF included: a typical text line, no dot-stuffing needed
const BLOCK_LINES = 840; // ~64 KiB per repeated block of a large message

/** Largest message sent as one precomputed buffer; above it the body is written block by block. */
const WHOLE_LIMIT = 1024 * 1024;

function bodyLine(n: number): string {
  const prefix = `${n.toString().padStart(6, '0')} `;
  return (prefix + 'The quick brown fox jumps over the lazy dog. Portez ce vieux whisky au juge'.padEnd(LINE - 2 - prefix.length, '.')).slice(0, LINE - 2) + '\r\n';
}

/**
 * A message of exactly `size` octets (when size ≥ ~300): RFC 5322 headers, then body lines of 78 octets,
 * the last one shortened to fit. Every line is CRLF-terminated, none starts with a dot.
 */
export function buildMessage(size: number, from: string, to: string): MessageBytes {
  const head = Buffer.from(
    `From: <${from}>\r\nTo: <${to}>\r\nSubject: facteur bench ${size} octets\r\n` +
      `Date: Thu, 01 Jan 2026 00:00:00 +0000\r\nMessage-ID: <bench-${size}@bench.facteur.test>\r\n` +
      `MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n`,
    'latin1',
  );
  const block = Buffer.from(Array.from({ length: BLOCK_LINES }, (_, i) => bodyLine(i)).join(''), 'latin1');
  let bodyBytes = Math.max(0, size - head.length);
  const repeat = Math.floor(bodyBytes / block.length);
  bodyBytes -= repeat * block.length;
  // The remainder: whole lines, then one short line (at least "x\r\n").
  let rest = block.subarray(0, Math.floor(bodyBytes / LINE) * LINE).toString('latin1');
  const left = bodyBytes - rest.length;
  if (left > 0) rest += 'x'.repeat(Math.max(1, left - 2)) + '\r\n';
  const tail = Buffer.from(`${rest}.\r\n`, 'latin1');
  const total = head.length + repeat * block.length + tail.length - 3;
  const whole = total <= WHOLE_LIMIT ? Buffer.concat([head, ...Array<Buffer>(repeat).fill(block), tail]) : null;
  return { size: total, head, middle: block, repeat, tail, whole };
}

/** The same message with header fields put on top (`fields`: whole fields, CRLF line ends), e.g. DKIM-Signature. */
export function withFieldsOnTop(m: MessageBytes, fields: string): MessageBytes {
  const top = Buffer.from(fields, 'latin1');
  const head = Buffer.concat([top, m.head]);
  return { ...m, size: m.size + top.length, head, whole: m.whole === null ? null : Buffer.concat([top, m.whole]) };
}

/** The message's own octets (CRLF line ends, no final dot), for a signer. */
export function messageOctets(m: MessageBytes): Buffer {
  const all = Buffer.concat([m.head, ...Array<Buffer>(m.repeat).fill(m.middle), m.tail]);
  return all.subarray(0, m.size);
}
