// The queue's message file, <id>.msg: one line of JSON (the envelope as it arrived), then the message (LF endings).
//
// Why one file: the envelope and the body become durable together, with one file created, one fdatasync and one
// rename per message. Creating a file is the costliest step of a commit on ext4 (a fresh inode: 0.1 to 0.5 ms of
// kernel CPU here), so a second file per message cost the relay about a third of its CPU (README, Performance).
// The per-recipient state that changes after an attempt is written beside it, in <id>.json (queue-item.ts), and
// wins over the first line when both exist.
import { closeSync, createReadStream, fstatSync, openSync, readSync } from 'node:fs';
import { z } from 'zod';
import { isValidQueueId, newRecipient, type QueueItem } from './queue-item.js';

export const MSG_SUFFIX = '.msg';
/** A header line longer than this is not ours: the file is treated as corrupt (100 recipients take about 30 KiB). */
export const MAX_ENVELOPE_LINE = 4 * 1024 * 1024;
const FORMAT_VERSION = 1;
const LF = 0x0a;

const envelopeSchema = z.object({
  v: z.literal(FORMAT_VERSION),
  id: z.string().refine(isValidQueueId, 'not a queue id'),
  from: z.string(),
  reverse_path: z.object({ local: z.string(), domain: z.string() }).nullable(),
  created: z.iso.datetime(),
  eightBit: z.boolean(),
  smtputf8: z.boolean(),
  recipients: z.array(z.object({ address: z.string().min(1), local: z.string(), domain: z.string().min(1) })).min(1),
});

/** The first line of <id>.msg: what the item was when it was accepted (every recipient pending). */
export function encodeEnvelope(item: QueueItem): Buffer {
  const line = JSON.stringify({
    v: FORMAT_VERSION,
    id: item.id,
    from: item.from,
    reverse_path: item.reverse_path,
    created: item.created,
    eightBit: item.eightBit,
    smtputf8: item.smtputf8,
    recipients: item.recipients.map((r) => ({ address: r.address, local: r.local, domain: r.domain })),
  });
  // JSON.stringify escapes every control character, so the line holds no LF of its own.
  return Buffer.from(`${line}\n`, 'utf8');
}

/** The item described by a first line (without its LF), whose body is `size` bytes. Throws on anything malformed. */
export function parseEnvelope(line: string, size: number): QueueItem {
  const result = envelopeSchema.safeParse(JSON.parse(line));
  if (!result.success) throw new Error(`not a queue envelope: ${z.prettifyError(result.error)}`);
  const e = result.data;
  return {
    id: e.id,
    from: e.from,
    reverse_path: e.reverse_path,
    created: e.created,
    size,
    eightBit: e.eightBit,
    smtputf8: e.smtputf8,
    recipients: e.recipients.map((r) => newRecipient(r.address, { local: r.local, domain: r.domain })),
  };
}

/** Shared by the synchronous reads of a start-up (one at a time): most envelopes fit in its first read. */
const scratch = Buffer.allocUnsafe(64 * 1024);

/**
 * The envelope of <id>.msg, read synchronously: used while the queue is loaded at start-up, before anything is
 * served, where 100,000 small reads are several times faster without a trip through the thread pool each.
 */
export function readEnvelopeSync(path: string): QueueItem {
  const fd = openSync(path, 'r');
  try {
    const fileSize = fstatSync(fd).size;
    let buf = scratch;
    let length = 0;
    for (;;) {
      if (length === buf.length) {
        if (buf.length >= MAX_ENVELOPE_LINE) throw new Error('its first line is too long for an envelope');
        const bigger = Buffer.allocUnsafe(Math.min(buf.length * 4, MAX_ENVELOPE_LINE));
        buf.copy(bigger, 0, 0, length);
        buf = bigger;
      }
      const n = readSync(fd, buf, length, buf.length - length, length);
      const end = buf.subarray(0, length + n).indexOf(LF, length);
      length += n;
      if (end >= 0) return parseEnvelope(buf.toString('utf8', 0, end), fileSize - end - 1);
      if (n === 0) throw new Error('it ends before the end of its envelope line');
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * The message stored in `path`, streamed: after the first line when `skipEnvelope` (an <id>.msg), the whole file
 * otherwise (a queue written by an earlier version: <id>.eml). Stopping the iteration closes the file.
 */
export async function* readBody(path: string, skipEnvelope: boolean): AsyncGenerator<Buffer> {
  let skipping = skipEnvelope;
  for await (const chunk of createReadStream(path, { highWaterMark: 64 * 1024 }) as AsyncIterable<Buffer>) {
    if (!skipping) {
      yield chunk;
      continue;
    }
    const end = chunk.indexOf(LF);
    if (end < 0) continue;
    skipping = false;
    if (end + 1 < chunk.length) yield chunk.subarray(end + 1);
  }
  if (skipping) throw new Error(`${path} ends before the end of its envelope line`);
}
