// The MTA-STS policy file (RFC 8461 §3.2), parsed strictly: "key: value" lines, version, mode, max_age, mx patterns.

export type StsMode = 'enforce' | 'testing' | 'none';

export interface StsPolicy {
  readonly mode: StsMode;
  /** Seconds the policy may be cached (at most 31,557,600: one year). */
  readonly maxAge: number;
  /** MX host patterns, lower case: "mail.example.com" or "*.example.net". */
  readonly mx: readonly string[];
}

/** The longest max_age RFC 8461 §3.2 allows: one year of 365.25 days. */
export const MAX_STS_AGE = 31_557_600;

export class StsPolicyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StsPolicyError';
  }
}

const FIELD = /^([A-Za-z0-9][A-Za-z0-9_.-]{0,31}):[ \t]*(.*?)[ \t]*$/;
const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
const MX_PATTERN = new RegExp(`^(?:\\*\\.)?${LABEL}(?:\\.${LABEL})+$`);

/**
 * Parses the policy text. Lines end in LF or CRLF; each is "name:" then optional blanks and the value; field
 * names are case-sensitive. Unknown fields are ignored; a repeated field other than mx keeps its first value
 * (RFC 8461 §3.2). version ("STSv1"), mode and max_age are required, and at least one mx unless mode is none.
 * Line terminators at the very end are allowed; an empty line elsewhere, a line that is not "name: value", or a
 * bad value makes the whole policy invalid (StsPolicyError), since a policy misread could send mail to the wrong host.
 */
export function parseStsPolicy(text: string): StsPolicy {
  const body = text.replace(/(?:\r?\n)+$/, '');
  if (body === '') throw new StsPolicyError('the policy is empty');
  const seen = new Map<string, string>();
  const mx: string[] = [];
  for (const [n, line] of body.split(/\r?\n/).entries()) {
    const m = FIELD.exec(line);
    if (m === null || /[\x00-\x08\x0a-\x1f\x7f]/.test(line)) throw new StsPolicyError(`line ${n + 1} is not "name: value": ${JSON.stringify(line.slice(0, 80))}`);
    const [, name = '', value = ''] = m;
    if (value === '') throw new StsPolicyError(`line ${n + 1}: ${name} has no value`);
    if (name === 'mx') {
      const pattern = value.toLowerCase();
      if (!MX_PATTERN.test(pattern)) throw new StsPolicyError(`line ${n + 1}: ${JSON.stringify(value)} is not an MX pattern (a host name, or "*." and a domain)`);
      mx.push(pattern);
    } else if (!seen.has(name)) {
      seen.set(name, value);
    }
  }
  const version = seen.get('version');
  if (version !== 'STSv1') throw new StsPolicyError(version === undefined ? 'no version field' : `unknown version ${JSON.stringify(version)}`);
  const mode = seen.get('mode');
  if (mode !== 'enforce' && mode !== 'testing' && mode !== 'none') throw new StsPolicyError(mode === undefined ? 'no mode field' : `unknown mode ${JSON.stringify(mode)}`);
  const age = seen.get('max_age');
  if (age === undefined || !/^\d{1,10}$/.test(age)) throw new StsPolicyError(age === undefined ? 'no max_age field' : `max_age ${JSON.stringify(age)} is not 1 to 10 digits`);
  if (mode !== 'none' && mx.length === 0) throw new StsPolicyError(`mode ${mode} without any mx field`);
  // Past one year the domain asked for more than the RFC allows: honour it for one year rather than not at all.
  return { mode, maxAge: Math.min(Number(age), MAX_STS_AGE), mx };
}

/**
 * RFC 8461 §4.1: an MX host is valid for the policy when a pattern names it exactly, or when a "*." pattern
 * names its parent: a wildcard stands for exactly one label ("*.example.com" matches "mail.example.com", not
 * "example.com" nor "a.mail.example.com"). Case and a final dot do not count.
 */
export function mxMatches(pattern: string, host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  const p = pattern.toLowerCase().replace(/\.$/, '');
  if (!p.startsWith('*.')) return h === p;
  const dot = h.indexOf('.');
  return dot > 0 && h.slice(dot + 1) === p.slice(2);
}

export function policyAllowsMx(policy: Pick<StsPolicy, 'mx'>, host: string): boolean {
  return policy.mx.some((p) => mxMatches(p, host));
}
