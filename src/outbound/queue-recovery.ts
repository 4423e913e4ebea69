// Reading the queue directory: at start-up (loading every item and clearing what interrupted writes left) and for
// `queue list` / `queue delete` while the server is stopped (reading only).
//
// What a directory may hold, per id:
//  - <id>.msg (envelope line + message) and maybe <id>.json (state after an attempt, newer than the envelope line);
//  - <id>.json + <id>.eml: an item queued by facteur 0.1, before the single-file format; still loaded and sent;
//  - leftovers of a crash: *.tmp (a write never committed), <id>.eml alone (0.1: body of an uncommitted item),
//    <id>.json alone (an item whose removal was interrupted: its .msg goes first).
import { readdirSync, readFileSync, renameSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../observability/logger.js';
import { errorCode } from '../fs/error-code.js';
import { TMP_SUFFIX } from '../fs/durable-file.js';
import { MSG_SUFFIX, readEnvelopeSync } from './queue-file.js';
import { parseQueueItem, type QueueItem } from './queue-item.js';

export const CORRUPT_SUFFIX = '.corrupt';

/** Which of an id's files are present. */
interface Files {
  msg: boolean;
  json: boolean;
  eml: boolean;
}

/** What to do with one id: load it, or clear a leftover, or set a file aside. */
type Verdict =
  | { readonly kind: 'item'; readonly item: QueueItem; readonly legacy: boolean; readonly state: boolean; readonly asideJson?: string }
  | { readonly kind: 'leftover'; readonly file: string; readonly why: string }
  | { readonly kind: 'corrupt'; readonly files: readonly string[]; readonly why: string };

export interface Recovered {
  readonly items: QueueItem[];
  /** Ids of items in the 0.1 format (body in <id>.eml, read from its first byte). */
  readonly legacy: Set<string>;
  /** Ids of items with an <id>.json. */
  readonly withState: Set<string>;
}

/**
 * Loads every item and clears the leftovers of interrupted writes; a file that cannot be read is renamed
 * <name>.corrupt and kept for the operator, never deleted. Returns whether the directory changed (to be flushed).
 * Synchronous on purpose: it runs once, before anything is served (bench: queue-100000).
 */
export function recoverQueueDir(dir: string, logger: Logger): Recovered & { readonly changed: boolean } {
  const items: QueueItem[] = [];
  const legacy = new Set<string>();
  const withState = new Set<string>();
  let changed = false;
  const { ids, tmp } = scan(readdirSync(dir));
  for (const name of tmp) {
    logger.warn({ event: 'queue-cleanup', file: name }, 'removing temporary file left by an interrupted write');
    unlinkQuiet(join(dir, name));
    changed = true;
  }
  for (const [id, files] of ids) {
    const v = judge(dir, id, files);
    if (v.kind === 'item') {
      items.push(v.item);
      if (v.legacy) legacy.add(v.item.id);
      if (v.state) withState.add(v.item.id);
      if (v.asideJson !== undefined) {
        logger.error({ event: 'queue-corrupt', file: `${id}.json`, err: v.asideJson }, `state file unreadable, moved aside to ${id}.json${CORRUPT_SUFFIX}; using the envelope (recipients already served may get a second copy)`);
        renameSync(join(dir, `${id}.json`), join(dir, `${id}.json${CORRUPT_SUFFIX}`));
        changed = true;
      }
    } else if (v.kind === 'leftover') {
      logger.warn({ event: 'queue-cleanup', file: v.file }, `removing ${v.why}`);
      unlinkQuiet(join(dir, v.file));
      changed = true;
    } else {
      // Never crash on one bad file, never delete it: keep it for the operator and go on with the others.
      for (const file of v.files) {
        logger.error({ event: 'queue-corrupt', file, err: v.why }, `moving unreadable queue file aside to ${file}${CORRUPT_SUFFIX}`);
        renameSync(join(dir, file), join(dir, `${file}${CORRUPT_SUFFIX}`));
      }
      changed = true;
    }
  }
  items.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { items, legacy, withState, changed };
}

/** Every committed item, without changing anything (for `queue list` while the server is down). */
export function readQueueDir(dir: string): { items: QueueItem[]; problems: string[] } {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return { items: [], problems: [] };
    throw err;
  }
  const items: QueueItem[] = [];
  const problems: string[] = [];
  for (const [id, files] of scan(names).ids) {
    try {
      const v = judge(dir, id, files);
      if (v.kind === 'item') items.push(v.item);
      if (v.kind === 'item' && v.asideJson !== undefined) problems.push(`${id}.json: ${v.asideJson} (listed as it arrived: every recipient pending)`);
      if (v.kind === 'corrupt') problems.push(`${v.files.join(', ')}: ${v.why}`);
    } catch (err) {
      if (errorCode(err) !== 'ENOENT') throw err; // removed meanwhile by the running server
    }
  }
  items.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { items, problems };
}

function scan(names: readonly string[]): { ids: Map<string, Files>; tmp: string[] } {
  const ids = new Map<string, Files>();
  const tmp: string[] = [];
  for (const name of names) {
    if (name.endsWith(TMP_SUFFIX)) {
      tmp.push(name);
      continue;
    }
    const m = /^([A-Za-z0-9]+)\.(msg|json|eml)$/.exec(name);
    if (m === null) continue; // *.corrupt and anything an operator put there
    const id = m[1] as string;
    const files = ids.get(id) ?? { msg: false, json: false, eml: false };
    files[m[2] as keyof Files] = true;
    ids.set(id, files);
  }
  return { ids, tmp };
}

function judge(dir: string, id: string, files: Files): Verdict {
  if (files.msg) {
    let asideJson: string | undefined;
    if (files.json) {
      try {
        return { kind: 'item', item: readState(dir, id), legacy: false, state: true };
      } catch (err) {
        if (errorCode(err) === 'ENOENT') throw err;
        asideJson = messageOf(err);
      }
    }
    try {
      const item = readEnvelopeSync(join(dir, `${id}${MSG_SUFFIX}`));
      if (item.id !== id) throw new Error(`its id ${JSON.stringify(item.id)} does not match the file name`);
      return asideJson === undefined ? { kind: 'item', item, legacy: false, state: false } : { kind: 'item', item, legacy: false, state: false, asideJson };
    } catch (err) {
      if (errorCode(err) === 'ENOENT') throw err;
      const files = asideJson === undefined ? [`${id}${MSG_SUFFIX}`] : [`${id}${MSG_SUFFIX}`, `${id}.json`];
      return { kind: 'corrupt', files, why: messageOf(err) };
    }
  }
  if (files.json && files.eml) {
    try {
      return { kind: 'item', item: readState(dir, id), legacy: true, state: true };
    } catch (err) {
      if (errorCode(err) === 'ENOENT') throw err;
      // Both aside: a lone .eml would otherwise be taken for a leftover and removed at the next start.
      return { kind: 'corrupt', files: [`${id}.json`, `${id}.eml`], why: messageOf(err) };
    }
  }
  if (files.json) return { kind: 'leftover', file: `${id}.json`, why: 'state file of a message already gone (interrupted removal)' };
  return { kind: 'leftover', file: `${id}.eml`, why: 'message body without envelope (interrupted write, never acknowledged)' };
}

/** <id>.json: the item's state after its last attempt. */
function readState(dir: string, id: string): QueueItem {
  const item = parseQueueItem(readFileSync(join(dir, `${id}.json`), 'utf8'));
  if (item.id !== id) throw new Error(`its id ${JSON.stringify(item.id)} does not match the file name`);
  return item;
}

function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if (errorCode(err) !== 'ENOENT') throw err;
  }
}

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));
