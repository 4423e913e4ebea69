// rspamd's answer (the JSON of /checkv2) turned into a check verdict: its action applied, its headers to add.
//
//   reject                  → reject, 550 5.7.1 (rspamd's smtp_message as the text when it gives one)
//   soft reject             → defer, 451 4.7.1 (rate limits, rspamd's own greylisting module)
//   add header              → junk (spam_to_junk) or accept, with "X-Spam: Yes" and rspamd's headers
//   rewrite subject         → the same, and the Subject replaced by rspamd's
//   greylist, no action     → accept with rspamd's headers. rspamd answers "greylist" only when its greylisting
//                             module is off (it says "soft reject" when it greylists): deferring then would defer the
//                             message at every retry, for ever. rspamd's own milter accepts it too.
// A reject that rspamd's settings turn into a quarantine or a discard (milter.reject) is filed as junk: facteur
// never drops a message it accepted.
import type { CheckVerdict } from '../inbound/message-check.js';
import { replies } from '../smtp/replies.js';

export interface RspamdResult {
  /** rspamd's action, as it said it ("add header"), or "" when it gave none. */
  readonly action: string;
  readonly score: number | null;
  readonly requiredScore: number | null;
  readonly verdict: CheckVerdict;
}

export interface VerdictOptions {
  /** "add header" and "rewrite subject" give junk (else accept, marked). */
  readonly spamToJunk: boolean;
}

/** Header name of rspamd's "add header" action (its proxy's spam_header default). */
const SPAM_HEADER = 'X-Spam';

/** The verdict for one answer; throws on a body that is not rspamd's answer (treated as a failure by the caller). */
export function verdictOf(body: unknown, opts: VerdictOptions): RspamdResult {
  if (typeof body !== 'object' || body === null || typeof (body as { action?: unknown }).action !== 'string') {
    throw new Error('not an rspamd answer: no action');
  }
  const answer = body as Record<string, unknown>;
  const action = answer.action as string;
  const milter = isObject(answer.milter) ? answer.milter : {};
  const smtpMessage = isObject(answer.messages) ? smtpText(answer.messages.smtp_message) : null;
  const headers = addedHeaders(milter.add_headers);
  const removeHeaders = isObject(milter.remove_headers) ? Object.keys(milter.remove_headers).filter(isHeaderName) : [];
  const spam = opts.spamToJunk ? 'junk' : 'accept';
  const marked = (extra: readonly string[], removed: readonly string[]): CheckVerdict => ({
    action: spam,
    headers: [...extra, ...headers],
    removeHeaders: [...new Set([...removed, ...removeHeaders])],
  });

  let verdict: CheckVerdict;
  if (milter.no_action === true) {
    // rspamd's settings ask that its action be only said, not applied.
    verdict = { action: 'accept', headers: [`X-Rspamd-Action: ${headerValue(action)}`, ...headers], removeHeaders };
  } else if (action === 'reject') {
    verdict =
      milter.reject === 'quarantine' || milter.reject === 'discard'
        ? marked([], [])
        : { action: 'reject', reply: replies.spamRejected(smtpMessage ?? undefined), headers: [] };
  } else if (action === 'soft reject') {
    verdict = { action: 'defer', reply: replies.spamDeferred(smtpMessage ?? undefined), headers: [] };
  } else if (action === 'add header') {
    const name = typeof milter.spam_header === 'string' && isHeaderName(milter.spam_header) ? milter.spam_header : SPAM_HEADER;
    verdict = marked([`${name}: Yes`], [name]);
  } else if (action === 'rewrite subject' && typeof answer.subject === 'string') {
    verdict = marked([`Subject: ${encodeSubject(answer.subject)}`], ['Subject']);
  } else if (action === 'rewrite subject') {
    verdict = marked([`${SPAM_HEADER}: Yes`], [SPAM_HEADER]);
  } else {
    verdict = { action: 'accept', headers, removeHeaders };
  }
  return { action, score: numberOrNull(answer.score), requiredScore: numberOrNull(answer.required_score), verdict };
}

/**
 * milter.add_headers: { name: value | { value, order } | [those] }, each made a whole header field. rspamd folds
 * long values with "\r\n\t"; they become "\n\t" as the verdict wants them. The order is rspamd's insertion index
 * in the message: facteur adds every field at the top, so it is not used.
 */
function addedHeaders(spec: unknown): string[] {
  if (!isObject(spec)) return [];
  const out: string[] = [];
  for (const [name, entry] of Object.entries(spec)) {
    if (!isHeaderName(name)) continue;
    for (const item of Array.isArray(entry) ? entry : [entry]) {
      const value = typeof item === 'string' ? item : isObject(item) && typeof item.value === 'string' ? item.value : null;
      if (value !== null) out.push(`${name}: ${headerValue(value)}`);
    }
  }
  return out;
}

/** A field name of RFC 5322 §3.6.8: printable ASCII but ":". */
const isHeaderName = (name: string): boolean => /^[\x21-\x39\x3b-\x7e]{1,76}$/.test(name);

/** A value folded our way: one line per line of rspamd's, continuation lines indented with a tab; no other controls. */
function headerValue(value: string): string {
  return value
    .split(/\r?\n|\r/)
    .map((line) => line.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '').trim())
    .filter((line) => line !== '')
    .join('\n\t');
}

/** A Subject with non-ASCII text as RFC 2047 encoded-words (UTF-8, base64), so the header stays 7-bit. */
function encodeSubject(subject: string): string {
  const text = headerValue(subject).replace(/\n\t/g, ' ');
  if (/^[\x20-\x7e]*$/.test(text)) return text;
  const words: string[] = [];
  let chunk = '';
  for (const ch of text) {
    // 45 octets of UTF-8 make 60 of base64: each encoded-word stays within RFC 2047 §2's 75 characters.
    if (Buffer.byteLength(chunk + ch) > 45) {
      words.push(chunk);
      chunk = '';
    }
    chunk += ch;
  }
  if (chunk !== '') words.push(chunk);
  return words.map((w) => `=?UTF-8?B?${Buffer.from(w).toString('base64')}?=`).join('\n\t');
}

/** rspamd's smtp_message as reply text: printable ASCII on one line, short; null when there is none. */
function smtpText(v: unknown): string | null {
  if (typeof v !== 'string') return null;
  const text = v.replace(/[^\x20-\x7e]+/g, ' ').trim().slice(0, 200);
  return text === '' ? null : text;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const numberOrNull = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
