// The `_mta-sts.<domain>` TXT record (RFC 8461 §3.1): "v=STSv1; id=…;" and which of several records counts.
import type { TxtRecord } from '../../dns/records.js';

/** A valid MTA-STS TXT record: the policy's id, and extension fields (unknown, kept for logs). */
export interface StsRecord {
  /** 1 to 32 letters and digits; a new id means a new policy to fetch (RFC 8461 §3.1). */
  readonly id: string;
  readonly extensions: Readonly<Record<string, string>>;
}

export type StsRecordResult =
  | { readonly ok: true; readonly record: StsRecord }
  /** No usable record: as if the domain had no MTA-STS (RFC 8461 §3.1), unless a policy is cached. */
  | { readonly ok: false; readonly reason: string };

const SEPARATOR = /[ \t]*;[ \t]*/;
const ID = /^id=([A-Za-z0-9]{1,32})$/;
// sts-ext-name "=" sts-ext-value: the value has no "=", ";", space or control character.
const EXTENSION = /^([A-Za-z0-9][A-Za-z0-9_.-]{0,31})=([\x21-\x3a\x3c\x3e-\x7e]+)$/;

/**
 * Parses one record, its strings already joined (RFC 8461 §3.1: "concatenated without adding spaces"). It must
 * begin with "v=STSv1" and carry an id; fields are separated by ";" with optional blanks, a final ";" is allowed.
 */
export function parseStsRecord(text: string): StsRecordResult {
  const fields = text.split(SEPARATOR);
  if (fields[0] !== 'v=STSv1') return { ok: false, reason: 'the record does not begin with "v=STSv1"' };
  if (fields.length > 1 && fields[fields.length - 1] === '') fields.pop();
  let id: string | null = null;
  const extensions: Record<string, string> = {};
  for (const field of fields.slice(1)) {
    const idMatch = ID.exec(field);
    if (idMatch !== null) {
      // A repeated field: the first one counts (as RFC 8461 §3.2 says of the policy's fields).
      id ??= idMatch[1] as string;
      continue;
    }
    const ext = EXTENSION.exec(field);
    if (ext === null || (ext[1] as string) === 'id' || (ext[1] as string) === 'v') return { ok: false, reason: `malformed field ${JSON.stringify(field)}` };
    extensions[ext[1] as string] ??= ext[2] as string;
  }
  if (id === null) return { ok: false, reason: 'the record has no id' };
  return { ok: true, record: { id, extensions } };
}

/**
 * RFC 8461 §3.1: records that do not begin with "v=STSv1;" are discarded; exactly one must be left, and valid.
 * Anything else means "no MTA-STS here" (a cached policy still applies until it expires).
 */
export function selectStsRecord(records: readonly TxtRecord[]): StsRecordResult {
  const candidates = records.map((chunks) => chunks.join('')).filter((t) => /^v=STSv1;/.test(t));
  if (candidates.length === 0) return { ok: false, reason: 'no TXT record beginning with "v=STSv1;"' };
  if (candidates.length > 1) return { ok: false, reason: `${candidates.length} TXT records beginning with "v=STSv1;" (exactly one is allowed)` };
  return parseStsRecord(candidates[0] as string);
}
