// The queue's files on disk: their names, their format and schema, and what the files of a folder make.
//
//  - <id>.msg: one line of JSON, the envelope as it arrived, then the message (LF line endings). One file per message:
//    the envelope and the message become durable together, with one file created and one fdatasync (creating a file
//    is the costliest step of a commit; see the README, Performance).
//  - <id>.json: the item with each recipient's state, written after an attempt leaves it queued; it wins over the
//    envelope line.
//  - <id>.json + <id>.eml: an item queued by facteur 0.1 (state, then the whole message); still read and sent.
//  - leftovers of a crash: *.tmp (a write never committed), <id>.eml alone, <id>.json alone (a removal takes the .msg
//    first); and <name>.corrupt, a file that could not be read, set aside for the operator.
// Field names on disk are snake_case (next_attempt, last_error, ...) and never change; in memory see queue-item.ts.
import { closeSync, createReadStream, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { errorCode } from '../fs/error-code.js';
import { TMP_SUFFIX } from '../fs/durable-file.js';
import { errorText } from '../observability/error-text.js';
import { newRecipient, type QueueItem, type QueueRecipient } from './queue-item.js';

export const MSG_SUFFIX = '.msg';
export const CORRUPT_SUFFIX = '.corrupt';
/** A header line longer than this is not ours: the file is treated as corrupt (100 recipients take about 30 KiB). */
export const MAX_ENVELOPE_LINE = 4 * 1024 * 1024;
const FORMAT_VERSION = 1;
const LF = 0x0a;

const ID_PATTERN = /^[A-Za-z0-9]{1,64}$/;
/** Ids are file names: anything but [A-Za-z0-9] (a "../" from a command line, say) is refused. */
export const isValidQueueId = (id: string): boolean => ID_PATTERN.test(id);

// One schema: the state file is the whole item; the envelope line is the same item as it arrived, without its size
// (the rest of the file) and with only the address of each recipient.
const isoDate = z.iso.datetime();
const recipientAddress = { address: z.string().min(1), local: z.string(), domain: z.string().min(1) };
const itemFields = {
  id: z.string().regex(ID_PATTERN, 'not a queue id'),
  from: z.string(),
  reverse_path: z.object({ local: z.string(), domain: z.string() }).nullable(),
  created: isoDate,
};
const bodyFlags = { eightBit: z.boolean(), smtputf8: z.boolean() };
const stateSchema = z.object({
  ...itemFields,
  size: z.number().int().nonnegative(),
  ...bodyFlags,
  recipients: z
    .array(
      z.object({
        ...recipientAddress,
        status: z.enum(['pending', 'deferred', 'sent', 'failed']),
        attempts: z.number().int().nonnegative(),
        next_attempt: isoDate.nullable(),
        last_error: z.string().nullable(),
        diagnostic: z.string().nullable(),
        remote_mta: z.string().nullable(),
        last_attempt: isoDate.nullable(),
        dsn_status: z.string().nullable(),
        bounced: z.boolean().optional(),
      }),
    )
    .min(1),
});
const envelopeSchema = z.object({ v: z.literal(FORMAT_VERSION), ...itemFields, ...bodyFlags, recipients: z.array(z.object(recipientAddress)).min(1) });

type DiskRecipient = z.infer<typeof stateSchema>['recipients'][number];

/** The first line of <id>.msg: what the item was when it was accepted (every recipient pending). */
export function encodeEnvelope(item: QueueItem): Buffer {
  const line = JSON.stringify({
    v: FORMAT_VERSION,
    id: item.id,
    from: item.from,
    reverse_path: item.reversePath,
    created: item.created,
    eightBit: item.eightBit,
    smtputf8: item.smtputf8,
    recipients: item.recipients.map((r) => ({ address: r.address, local: r.local, domain: r.domain })),
  });
  // JSON.stringify escapes every control character, so the line holds no LF of its own.
  return Buffer.from(`${line}\n`, 'utf8');
}

/** The item described by a first line (without its LF), whose message is `size` bytes. Throws on anything malformed. */
export function parseEnvelope(line: string, size: number): QueueItem {
  const result = envelopeSchema.safeParse(JSON.parse(line));
  if (!result.success) throw new Error(`not a queue envelope: ${z.prettifyError(result.error)}`);
  const e = result.data;
  const recipients = e.recipients.map((r) => newRecipient(r.address, { local: r.local, domain: r.domain }));
  return { id: e.id, from: e.from, reversePath: e.reverse_path, created: e.created, size, eightBit: e.eightBit, smtputf8: e.smtputf8, recipients };
}

/** The text of <id>.json. */
export function encodeState(item: QueueItem): string {
  const state = {
    id: item.id,
    from: item.from,
    reverse_path: item.reversePath,
    created: item.created,
    size: item.size,
    eightBit: item.eightBit,
    smtputf8: item.smtputf8,
    recipients: item.recipients.map(
      (r): DiskRecipient => ({
        address: r.address,
        local: r.local,
        domain: r.domain,
        status: r.status,
        attempts: r.attempts,
        next_attempt: r.nextAttempt,
        last_error: r.lastError,
        diagnostic: r.diagnostic,
        remote_mta: r.remoteMta,
        last_attempt: r.lastAttempt,
        dsn_status: r.dsnStatus,
        ...(r.bounced === true ? { bounced: true } : {}),
      }),
    ),
  };
  return `${JSON.stringify(state, null, 2)}\n`;
}

/** Reads the text of an <id>.json; throws (with a readable message) if it is not a well-formed queue item. */
export function parseState(text: string): QueueItem {
  const result = stateSchema.safeParse(JSON.parse(text));
  if (!result.success) throw new Error(`not a queue item: ${z.prettifyError(result.error)}`);
  const s = result.data;
  const recipients = s.recipients.map(
    (r): QueueRecipient => ({
      address: r.address,
      local: r.local,
      domain: r.domain,
      status: r.status,
      attempts: r.attempts,
      nextAttempt: r.next_attempt,
      lastError: r.last_error,
      diagnostic: r.diagnostic,
      remoteMta: r.remote_mta,
      lastAttempt: r.last_attempt,
      dsnStatus: r.dsn_status,
      ...(r.bounced === true ? { bounced: true } : {}),
    }),
  );
  return { id: s.id, from: s.from, reversePath: s.reverse_path, created: s.created, size: s.size, eightBit: s.eightBit, smtputf8: s.smtputf8, recipients };
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
 * otherwise (a 0.1 <id>.eml). Stopping the iteration closes the file.
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

/** Which of an id's files are present. */
export interface ItemFiles {
  msg: boolean;
  json: boolean;
  eml: boolean;
}

/** What one id's files make: an item, a leftover to clear, or files that cannot be read. */
export type Verdict =
  | { readonly kind: 'item'; readonly item: QueueItem; readonly legacy: boolean; readonly state: boolean; readonly badState?: string }
  | { readonly kind: 'leftover'; readonly file: string; readonly why: string }
  | { readonly kind: 'corrupt'; readonly files: readonly string[]; readonly why: string };

/** A folder's names grouped by id (*.corrupt and anything an operator put there are not ours), and its tmp files. */
export function scanNames(names: readonly string[]): { ids: Map<string, ItemFiles>; tmp: string[] } {
  const ids = new Map<string, ItemFiles>();
  const tmp: string[] = [];
  for (const name of names) {
    if (name.endsWith(TMP_SUFFIX)) {
      tmp.push(name);
      continue;
    }
    const m = /^([A-Za-z0-9]+)\.(msg|json|eml)$/.exec(name);
    if (m === null) continue;
    const id = m[1] as string;
    const files = ids.get(id) ?? { msg: false, json: false, eml: false };
    files[m[2] as keyof ItemFiles] = true;
    ids.set(id, files);
  }
  return { ids, tmp };
}

/** Reads one id's files. An ENOENT (a file removed meanwhile) is thrown; any other problem is the verdict. */
export function readItem(dir: string, id: string, files: ItemFiles): Verdict {
  if (files.msg) {
    let badState: string | undefined;
    if (files.json) {
      try {
        return { kind: 'item', item: readStateSync(dir, id), legacy: false, state: true };
      } catch (err) {
        if (errorCode(err) === 'ENOENT') throw err;
        badState = errorText(err);
      }
    }
    try {
      const item = readEnvelopeSync(join(dir, `${id}${MSG_SUFFIX}`));
      if (item.id !== id) throw new Error(`its id ${JSON.stringify(item.id)} does not match the file name`);
      return badState === undefined ? { kind: 'item', item, legacy: false, state: false } : { kind: 'item', item, legacy: false, state: false, badState };
    } catch (err) {
      if (errorCode(err) === 'ENOENT') throw err;
      const files = badState === undefined ? [`${id}${MSG_SUFFIX}`] : [`${id}${MSG_SUFFIX}`, `${id}.json`];
      return { kind: 'corrupt', files, why: errorText(err) };
    }
  }
  if (files.json && files.eml) {
    try {
      return { kind: 'item', item: readStateSync(dir, id), legacy: true, state: true };
    } catch (err) {
      if (errorCode(err) === 'ENOENT') throw err;
      // Both aside: a lone .eml would otherwise be taken for a leftover and removed at the next start.
      return { kind: 'corrupt', files: [`${id}.json`, `${id}.eml`], why: errorText(err) };
    }
  }
  if (files.json) return { kind: 'leftover', file: `${id}.json`, why: 'state file of a message already gone (interrupted removal)' };
  return { kind: 'leftover', file: `${id}.eml`, why: 'message body without envelope (interrupted write, never acknowledged)' };
}

/** <id>.json: the item's state after its last attempt. */
function readStateSync(dir: string, id: string): QueueItem {
  const item = parseState(readFileSync(join(dir, `${id}.json`), 'utf8'));
  if (item.id !== id) throw new Error(`its id ${JSON.stringify(item.id)} does not match the file name`);
  return item;
}

