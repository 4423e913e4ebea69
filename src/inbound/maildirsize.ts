// The Maildir++ quota file `maildirsize` (Courier's README.maildirquota, as Dovecot's maildir quota reads it): parse and lines.
//
// The first line is the quota definition: "<bytes>S" and/or "<count>C", comma-separated ("1073741824S",
// "1000000S,1000C"). Every line after it is "<bytes> <count>", a change to the totals (a delivery appends
// "<size> 1", an expunge "-<size> -1"); the usage is their sum. The file is recalculated from the folders when it is
// missing, has another definition than ours, or has grown past 5120 bytes; and when it says the mailbox is over its
// quota but was last written more than 15 minutes ago (its lines may be stale).

/** Courier's limit on the file's size, past which it is rebuilt from the folders. */
export const MAILDIRSIZE_MAX_BYTES = 5120;
/** A file older than this that says "over quota" is checked again against the folders (Dovecot's MAILDIRSIZE_STALE_SECS). */
export const MAILDIRSIZE_STALE_MS = 15 * 60 * 1000;

export interface QuotaDefinition {
  /** Bytes allowed; 0: no byte limit. */
  readonly bytes: number;
  /** Messages allowed; 0: no count limit. */
  readonly count: number;
}

export interface MaildirUsage {
  readonly bytes: number;
  readonly count: number;
}

export interface ParsedMaildirsize {
  readonly definition: QuotaDefinition;
  readonly usage: MaildirUsage;
}

/** "1073741824S" → { bytes: 1073741824, count: 0 }; "100S,10C" → both; null when the line is not a definition. */
export function parseDefinition(line: string): QuotaDefinition | null {
  let bytes = 0;
  let count = 0;
  if (line.trim() === '') return { bytes, count };
  for (const part of line.trim().split(',')) {
    const m = /^(\d+)([SC])$/.exec(part.trim());
    if (m === null) return null;
    const n = Number(m[1]);
    if (!Number.isSafeInteger(n)) return null;
    if (m[2] === 'S') bytes = n;
    else count = n;
  }
  return { bytes, count };
}

export function formatDefinition(d: QuotaDefinition): string {
  const parts = [...(d.bytes > 0 ? [`${d.bytes}S`] : []), ...(d.count > 0 ? [`${d.count}C`] : [])];
  return parts.length === 0 ? '0S' : parts.join(',');
}

/**
 * The file's content → its definition and the summed usage; null when it cannot be trusted (no definition line,
 * a line that is not two integers, or a line cut short: the last one must end in LF, since each writer appends whole
 * lines with one write(2), a line without its LF is still being written or was torn by a crash).
 */
export function parseMaildirsize(text: string): ParsedMaildirsize | null {
  if (!text.endsWith('\n')) return null;
  const lines = text.slice(0, -1).split('\n');
  const definition = parseDefinition(lines[0] ?? '');
  if (definition === null) return null;
  let bytes = 0;
  let count = 0;
  for (const line of lines.slice(1)) {
    const m = /^\s*(-?\d+)\s+(-?\d+)\s*$/.exec(line);
    if (m === null) return null;
    bytes += Number(m[1]);
    count += Number(m[2]);
  }
  return { definition, usage: { bytes, count } };
}

/** One delivery's line: appended with O_APPEND in a single write, so concurrent writers never interleave. */
export function usageLine(bytes: number, count: number): string {
  return `${bytes} ${count}\n`;
}

/** A whole file: the definition, then the usage as one line (what a recalculation writes). */
export function formatMaildirsize(definition: QuotaDefinition, usage: MaildirUsage): string {
  return `${formatDefinition(definition)}\n${usageLine(usage.bytes, usage.count)}`;
}

/** Whether the file must be rebuilt from the folders before it is used (see the rules at the top). */
export function needsRecalculation(
  parsed: ParsedMaildirsize | null,
  file: { readonly size: number; readonly mtimeMs: number },
  ours: QuotaDefinition,
  nowMs: number,
): boolean {
  if (parsed === null) return true;
  if (file.size > MAILDIRSIZE_MAX_BYTES) return true;
  if (parsed.definition.bytes !== ours.bytes || parsed.definition.count !== ours.count) return true;
  if (parsed.usage.bytes < 0 || parsed.usage.count < 0) return true;
  return isOver(parsed.usage, ours, { bytes: 0, count: 0 }) && nowMs - file.mtimeMs > MAILDIRSIZE_STALE_MS;
}

/** Whether adding `more` (a message: its size and 1) would take the usage past the definition's limits. */
export function isOver(usage: MaildirUsage, d: QuotaDefinition, more: MaildirUsage): boolean {
  if (d.bytes > 0 && usage.bytes + more.bytes > d.bytes) return true;
  return d.count > 0 && usage.count + more.count > d.count;
}
