// DMARC (RFC 7489) for one author domain, with mailauth's evaluator: the policy record, identifier alignment of the
// SPF and DKIM passes, and the disposition the domain asks for (p=, sp=, sampled by pct=). mailauth's evaluation is
// remembered for a minute per (author domain, its _dmarc record as the resolver answers now, the passing identifiers,
// the ARC result): a busy sender's mail is evaluated once, and a changed record is seen as soon as the DNS shows it.
import type { ARCResult, DMARCResult } from 'mailauth';
import { dmarc } from 'mailauth/lib/dmarc/index.js';
import type { DnsResolve } from './dns-resolve.js';
import type { ResultCache } from './result-cache.js';

/** mailauth's evaluation of one author domain (false: no policy published), with its result for the cache. */
export interface DmarcEvaluation {
  readonly result: string;
  readonly r: DMARCResult | false;
}

export type DmarcCache = ResultCache<DmarcEvaluation>;

export type Disposition = 'none' | 'quarantine' | 'reject';

export interface DmarcOutcome {
  /** The RFC5322.From domain evaluated. */
  readonly domain: string;
  /** pass, fail, none (no policy published), temperror, permerror. */
  readonly result: string;
  /** The policy that applies to the domain (sp= for a subdomain of the organisational domain), null without one. */
  readonly policy: Disposition | null;
  /** What the domain asks for this message: its policy on a failure, after pct= sampling; "none" otherwise. */
  readonly disposition: Disposition;
  readonly comment: string | null;
}

export interface DmarcInputs {
  readonly fromDomain: string;
  /** The domains that passed SPF (MAIL FROM's, or HELO's for the null sender). */
  readonly spfDomains: readonly string[];
  /** The d= domains of the DKIM signatures that passed. */
  readonly dkimDomains: readonly { readonly domain: string; readonly aligned?: string | false; readonly underSized?: number }[];
  readonly arc?: ARCResult | undefined;
  /**
   * An SPF or DKIM check failed on a DNS error: a DMARC fail is then only a temperror, since the missing result might
   * have been an aligned pass (RFC 7489 §6.6.2 asks not to act on incomplete evaluations).
   */
  readonly incomplete: boolean;
  /** [0, 1), for pct= sampling (RFC 7489 §6.6.4). */
  readonly random: () => number;
}

const DISPOSITIONS: readonly string[] = ['none', 'quarantine', 'reject'];
const asDisposition = (v: unknown): Disposition | null => (typeof v === 'string' && DISPOSITIONS.includes(v.toLowerCase()) ? (v.toLowerCase() as Disposition) : null);

export async function checkDmarc(resolve: DnsResolve, inputs: DmarcInputs, cache?: DmarcCache): Promise<DmarcOutcome> {
  const domain = inputs.fromDomain;
  let r;
  try {
    const run = () => evaluate(resolve, inputs);
    r = (cache === undefined ? await run() : await cache.get(await cacheKey(resolve, inputs), run)).r;
  } catch (err) {
    return { domain, result: 'temperror', policy: null, disposition: 'none', comment: (err as Error).message };
  }
  if (r === false) return { domain, result: 'none', policy: null, disposition: 'none', comment: null };
  const comment = r.status.comment || null;
  const result = r.status.result === 'pass' && !strictlyAligned(r, domain, inputs) ? 'fail' : r.status.result;
  if (result !== 'fail') {
    return { domain, result, policy: asDisposition(r.policy), disposition: 'none', comment };
  }
  const policy = asDisposition(r.policy) ?? 'none';
  if (inputs.incomplete) {
    return { domain, result: 'temperror', policy, disposition: 'none', comment: `${comment ?? ''}${comment ? '; ' : ''}a DNS failure left SPF or DKIM undecided` };
  }
  return { domain, result, policy, disposition: sample(policy, r.pct, inputs.random), comment };
}

async function evaluate(resolve: DnsResolve, inputs: DmarcInputs): Promise<DmarcEvaluation> {
  const r = await dmarc({
    headerFrom: `postmaster@${inputs.fromDomain}`,
    spfDomains: [...inputs.spfDomains],
    dkimDomains: inputs.dkimDomains.map((d) => ({ domain: d.domain, ...(d.underSized ? { underSized: true } : {}) })),
    ...(inputs.arc !== undefined ? { arcResult: inputs.arc } : {}),
    resolver: resolve as (name: string, rrtype: string) => Promise<string[][]>,
  });
  return { result: r === false ? 'none' : r.status.result, r };
}

/**
 * Every input of mailauth's evaluation: the author domain, the answer for its _dmarc name (fetched early for this
 * message, from the resolver's cache, which honours TTLs), the passing SPF and DKIM domains, the ARC result.
 */
async function cacheKey(resolve: DnsResolve, inputs: DmarcInputs): Promise<string> {
  let key = part(inputs.fromDomain) + part(inputs.arc?.status?.result ?? '');
  try {
    const answer = (await resolve(`_dmarc.${inputs.fromDomain}`, 'TXT')) as string[][];
    for (const r of answer) key += part(r.join(''));
  } catch (err) {
    key += `!${(err as { code?: string }).code ?? 'error'}`;
  }
  // One identifier (or none) is the usual case: no arrays to sort.
  const spf = inputs.spfDomains.map((d) => d.toLowerCase());
  if (spf.length > 1) spf.sort();
  const dkim = inputs.dkimDomains.map((d) => `${d.domain.toLowerCase()}${d.underSized ? '/u' : ''}`);
  if (dkim.length > 1) dkim.sort();
  key += `|${spf.length}|`;
  for (const d of spf) key += part(d);
  for (const d of dkim) key += part(d);
  return key;
}

/** A key part that cannot run into the next one, whatever it holds: its length first. */
function part(s: string): string {
  return `${s.length}:${s}`;
}

/**
 * adkim=s / aspf=s (RFC 7489 §3.1): the identifier must equal the From: domain, not merely share its organisational
 * domain. mailauth 4.13 computes relaxed alignment whatever the record says, so a pass is checked again here.
 */
function strictlyAligned(r: DMARCResult, domain: string, inputs: DmarcInputs): boolean {
  const tags = `;${(r.rr ?? '').toLowerCase().replace(/\s+/g, '')};`;
  const strictDkim = tags.includes(';adkim=s;');
  const strictSpf = tags.includes(';aspf=s;');
  if (!strictDkim && !strictSpf) return true;
  const dkimOk = strictDkim ? inputs.dkimDomains.some((d) => d.domain.toLowerCase() === domain) : Boolean(r.alignment?.dkim?.result);
  const spfOk = strictSpf ? inputs.spfDomains.some((d) => d.toLowerCase() === domain) : Boolean(r.alignment?.spf?.result);
  return dkimOk || spfOk;
}

/**
 * pct= (RFC 7489 §6.6.4): the policy applies to that share of failing messages; the others get the next milder one
 * (reject → quarantine → none).
 */
function sample(policy: Disposition, pct: number | undefined, random: () => number): Disposition {
  if (typeof pct !== 'number' || !Number.isFinite(pct) || pct >= 100 || random() * 100 < pct) return policy;
  return policy === 'reject' ? 'quarantine' : 'none';
}
