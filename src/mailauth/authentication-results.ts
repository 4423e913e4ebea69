// The Authentication-Results: header field (RFC 8601 §2.2): one result per line, each "method=result (comment)
// ptype.property=value". Every value here may come from the client (HELO name, MAIL FROM, From:, d= and s= tags), so
// each is made safe: no control character, comments escaped, values quoted unless they are tokens or addresses.

export interface MethodResult {
  /** "spf", "dkim", "dmarc", "arc" (RFC 8601 §2.7). */
  readonly method: string;
  /** "pass", "fail", "none", "temperror", … */
  readonly result: string;
  readonly comment?: string | undefined;
  /** ptype.property → value, e.g. ["smtp.mailfrom", "joe@example.org"], ["header.d", "example.org"]. */
  readonly properties?: readonly (readonly [string, string])[];
}

/** "Authentication-Results: mx.example.org;\n spf=pass …;\n dkim=…\n", lines ending in LF like the stored message. */
export function formatAuthenticationResults(authservId: string, results: readonly MethodResult[]): string {
  const lines = results.map(formatResult);
  // RFC 8601 §2.2: "none" stands for no result at all.
  return `Authentication-Results: ${clean(authservId)};${lines.length === 0 ? ' none' : `\n ${lines.join(';\n ')}`}\n`;
}

function formatResult(r: MethodResult): string {
  let text = `${token(r.method)}=${token(r.result)}`;
  if (r.comment !== undefined && r.comment !== '') text += ` (${comment(r.comment)})`;
  for (const [name, value] of r.properties ?? []) {
    if (value !== '') text += ` ${name}=${pvalue(value)}`;
  }
  return text;
}

const CONTROL = /[\x00-\x1f\x7f]/;
/** The usual method names and results ("spf", "pass"): kept as they are after one test instead of two replacements. */
const PLAIN_TOKEN = /^[A-Za-z0-9._-]+$/;
const COMMENT_SPECIAL = /[\x00-\x1f\x7f\\()]/;

/** Control characters (CR and LF above all) would end or corrupt the header field. */
function clean(s: string): string {
  return CONTROL.test(s) ? s.replace(/[\x00-\x1f\x7f]+/g, ' ') : s;
}

function token(s: string): string {
  if (PLAIN_TOKEN.test(s)) return s;
  return clean(s).replace(/[^A-Za-z0-9._-]/g, '') || 'none';
}

/** RFC 5322 §3.2.2: inside a comment, "(", ")" and "\" are escaped. */
function comment(s: string): string {
  if (!COMMENT_SPECIAL.test(s)) return s;
  return clean(s).replace(/[\\()]/g, (c) => `\\${c}`);
}

const TOKEN = /^[A-Za-z0-9!#$%&'*+.^_`{|}~-]+$/; // RFC 2045 token: no tspecials
const DOT_ATOM = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const DOMAIN = /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$/;

/** RFC 8601 §2.2 pvalue: a token, an address "[local-part]@domain", else a quoted-string. */
function pvalue(s: string): string {
  const v = clean(s);
  if (TOKEN.test(v)) return v;
  const at = v.lastIndexOf('@');
  if (at >= 0 && (at === 0 || DOT_ATOM.test(v.slice(0, at))) && DOMAIN.test(v.slice(at + 1))) return v;
  return `"${v.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}
