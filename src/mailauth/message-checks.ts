// The checks of an incoming message (the inbound server, end of DATA): SPF for MAIL FROM and HELO, every DKIM
// signature, DMARC for the author domain(s), the ARC chain (recorded only); their Authentication-Results: field, and
// the verdict the DMARC policy asks for. A DNS failure is a temperror and never refuses a message.
import type { ARCResult } from 'mailauth';
import { arc as checkArcChain } from 'mailauth/lib/arc/index.js';
import type { DkimResultRow } from 'mailauth/lib/dkim/dkim-verifier.js';
import { replies } from '../smtp/replies.js';
import type { Reply } from '../mail/reply.js';
import { formatAuthenticationResults, type MethodResult } from './authentication-results.js';
import { DkimCheck, type DkimOutcome } from './dkim-check.js';
import { AsciiDomains } from './ascii-domains.js';
import { DkimKeyCache } from './dkim-public-key.js';
import { checkDmarc, type Disposition, type DmarcCache, type DmarcEvaluation, type DmarcOutcome } from './dmarc-check.js';
import { MessageResolver, type DnsResolve } from './dns-resolve.js';
import { MAX_HEADER_SECTION } from './header-section.js';
import { ResultCache } from './result-cache.js';
import { SpfCache } from './spf-cache.js';
import { checkHeloSpf, checkMailFromSpf, type SpfFacts, type SpfOutcome } from './spf-check.js';

export type DmarcPolicyMode = 'enforce' | 'report';

export interface InboundChecksOptions {
  /** Lookups, shaped as node:dns `promises.resolve`. */
  readonly resolve: DnsResolve;
  /** Our `hostname`: the authserv-id (RFC 8601 §2.5) and the name in SPF comments. */
  readonly hostname: string;
  /** "enforce": refuse p=reject failures, junk p=quarantine ones; "report": only record. */
  readonly dmarcPolicy: DmarcPolicyMode;
  /** [0, 1), for DMARC pct= sampling; Math.random by default. */
  readonly random?: () => number;
  /** SPF results reused per (client IP, identity, HELO) for this long (ms; default one minute, 0: never); DMARC's too. */
  readonly spfCacheMs?: number;
  /** The SPF and DMARC caches' clock (Date.now by default). */
  readonly now?: () => number;
}

/** What the session knows when DATA starts. */
export interface SessionFacts {
  /** The client's IP address as seen on the socket (IPv4-mapped IPv6 is taken as IPv4). */
  readonly clientIp: string;
  /** The HELO/EHLO name, null if none was given. */
  readonly helo: string | null;
  /** The MAIL FROM address ("local@domain"), null for the null reverse-path <>. */
  readonly mailFrom: string | null;
}

export type Verdict = 'accept' | 'reject' | 'junk';

export interface CheckOutcome {
  /** "Authentication-Results: <hostname>;\n spf=…;\n dkim=…\n": to put above the message (LF line endings). */
  readonly header: string;
  /** accept; reject (send `reply`, store nothing); junk (store in the Maildir++ .Junk folder). */
  readonly verdict: Verdict;
  /** For "reject": 550 5.7.1 naming DMARC (or 552 5.3.4 for a header section past the limit). */
  readonly reply: Reply | null;
  /** "spf=pass dkim=pass dmarc=pass arc=none", for the log line. */
  readonly summary: string;
  readonly spf: { readonly mailFrom: SpfOutcome | null; readonly helo: SpfOutcome | null };
  readonly dkim: readonly DkimResultRow[];
  readonly dmarc: readonly DmarcOutcome[];
  readonly arc: string;
  /** Set when a check broke (then every result is temperror and the verdict "accept"): worth a warning in the log. */
  readonly error?: Error;
}

/** What the server reads of a message's checks (in this thread or in the checks' own: threaded-checks.ts). */
export type CheckResult = Pick<CheckOutcome, 'header' | 'verdict' | 'reply' | 'summary' | 'error'>;

/** arc()'s result for a message without ARC fields (RFC 8617 §5.2: no chain is "none"). */
const NO_ARC = { status: { result: 'none' }, i: 0 } as unknown as ARCResult;

interface ArcOutcome {
  readonly status: string;
  readonly comment: string | null;
  readonly result: ARCResult | undefined;
}

/** At most this many distinct author domains are evaluated (a From: with fifty domains is abuse, not mail). */
const MAX_AUTHOR_DOMAINS = 5;

export class InboundChecks {
  readonly #opts: InboundChecksOptions;
  /** DKIM keys parsed once per distinct record, for every message. */
  readonly #keys = new DkimKeyCache();
  /** The From: domains' A-labels, for every message. */
  readonly #domains = new AsciiDomains();
  /** SPF results of recent messages (null: every message evaluated afresh). */
  readonly #spf: SpfCache<SpfOutcome> | null;
  /** DMARC evaluations of recent messages (null: every message evaluated afresh). */
  readonly #dmarc: DmarcCache | null;

  constructor(opts: InboundChecksOptions) {
    this.#opts = opts;
    const ttlMs = opts.spfCacheMs ?? 60_000;
    const cacheOpts = { ttlMs, ...(opts.now === undefined ? {} : { now: opts.now }) };
    this.#spf = ttlMs > 0 ? new SpfCache(cacheOpts) : null;
    this.#dmarc = ttlMs > 0 ? new ResultCache<DmarcEvaluation>(cacheOpts) : null;
  }

  /** Starts the checks of one message at DATA: SPF runs at once (or is remembered), while the message arrives. */
  start(facts: SessionFacts): MessageChecks {
    return new MessageChecks(this.#opts, { keys: this.#keys, domains: this.#domains }, facts, this.#spf ?? undefined, this.#dmarc ?? undefined);
  }
}

/** One message's checks: write() each chunk as it arrives (LF or CRLF line endings), then finish(). */
export class MessageChecks {
  readonly #opts: InboundChecksOptions;
  readonly #facts: SpfFacts;
  readonly #spfMailFrom: Promise<SpfOutcome> | null;
  readonly #spfHelo: Promise<SpfOutcome> | null;
  /** DKIM keys and DMARC records share one memo, so that the lookups started early are the ones used. */
  readonly #lookups: MessageResolver;
  readonly #dkim: DkimCheck;
  readonly #dmarcCache: DmarcCache | undefined;
  #failure: Error | null = null;

  /** `shared`: what every message's checks reuse (parsed DKIM keys, A-labels of domains). */
  constructor(opts: InboundChecksOptions, shared: { readonly keys: DkimKeyCache; readonly domains?: AsciiDomains }, facts: SessionFacts, spfCache?: SpfCache<SpfOutcome>, dmarcCache?: DmarcCache) {
    this.#opts = opts;
    this.#dmarcCache = dmarcCache;
    this.#facts = { ip: facts.clientIp, helo: facts.helo, mailFrom: facts.mailFrom, hostname: opts.hostname };
    // Each SPF check has its own lookup limits; they share nothing with the other checks.
    this.#spfMailFrom = checkMailFromSpf(opts.resolve, this.#facts, spfCache);
    this.#spfHelo = checkHeloSpf(opts.resolve, this.#facts, spfCache);
    this.#lookups = new MessageResolver(opts.resolve);
    this.#dkim = new DkimCheck(this.#lookups.resolve, shared.keys, (check) => this.#prefetch(check), new Date(), shared.domains?.toAscii);
  }

  /**
   * Feeds the next chunk of the message as received (before any field is added or removed). Never throws.
   * Synchronous (the DNS lookups it starts are awaited in finish()): no promise per chunk.
   */
  write(chunk: Buffer): void {
    if (this.#failure !== null) return;
    try {
      this.#dkim.write(chunk);
    } catch (err) {
      this.#failure = err as Error;
    }
  }

  /**
   * The results and the verdict, once the whole message was written. Never throws: a check that breaks (a bug, a
   * library surprise) gives temperror results and "accept", since refusing mail over our own fault would lose it.
   */
  async finish(): Promise<CheckOutcome> {
    try {
      if (this.#failure !== null) throw this.#failure;
      return await this.#finish();
    } catch (err) {
      return { ...failedChecks(this.#opts.hostname, err as Error), spf: { mailFrom: null, helo: null }, dkim: [], dmarc: [], arc: 'none' };
    }
  }

  async #finish(): Promise<CheckOutcome> {
    const dkim = await this.#dkim.finish();
    // Awaited one by one, and only what is pending: each await of a settled promise still costs a turn.
    const arc = this.#arcAbsent(dkim) ?? (await this.#checkArc(dkim));
    const spfMailFrom = this.#spfMailFrom === null ? null : await this.#spfMailFrom;
    const spfHelo = this.#spfHelo === null ? null : await this.#spfHelo;
    const dkimRows = dkim.results.filter((r) => r.status !== undefined);
    const spfPass = spfMailFrom !== null ? (spfMailFrom.result === 'pass' ? [spfMailFrom.domain] : []) : spfHelo?.result === 'pass' ? [spfHelo.domain] : [];
    const incomplete = (spfMailFrom ?? spfHelo)?.result === 'temperror' || dkimRows.some((r) => r.status.result === 'temperror');
    const authorDomains = dkim.authorDomains.length < 2 ? dkim.authorDomains : [...new Set(dkim.authorDomains)];
    const dkimPass = dkimRows.filter((r) => r.status.result === 'pass' && r.signingDomain).map((r) => ({ domain: r.signingDomain as string }));
    const dmarcOf = (fromDomain: string) =>
      checkDmarc(this.#lookups.resolve, { fromDomain, spfDomains: spfPass, dkimDomains: dkimPass, arc: arc.result, incomplete, random: this.#opts.random ?? Math.random }, this.#dmarcCache);
    // One author domain (nearly all mail): awaited alone, without Promise.all's bookkeeping.
    const dmarc = dkim.headerTooLarge ? [] : authorDomains.length === 1 ? [await dmarcOf(authorDomains[0] as string)] : await Promise.all(authorDomains.slice(0, MAX_AUTHOR_DOMAINS).map(dmarcOf));
    const { verdict, reply } = this.#verdict(dkim, dmarc);
    const results: MethodResult[] = [
      ...spfResults(spfMailFrom, spfHelo, this.#facts),
      ...dkimResults(dkim),
      ...dmarcResults(dkim, dmarc, authorDomains, this.#opts.dmarcPolicy),
      { method: 'arc', result: arc.status, comment: arc.comment ?? undefined },
    ];
    const summary =
      `spf=${(spfMailFrom ?? spfHelo)?.result ?? 'none'}` +
      ` dkim=${dkimRows.map((r) => r.status.result).join(',') || (dkim.headerTooLarge ? 'permerror' : 'none')}` +
      ` dmarc=${dmarc.map((d) => d.result).join(',') || 'none'}` +
      ` arc=${arc.status}`;
    return {
      header: formatAuthenticationResults(this.#opts.hostname, results),
      verdict,
      reply,
      summary,
      spf: { mailFrom: spfMailFrom, helo: spfHelo },
      dkim: dkimRows,
      dmarc,
      arc: arc.status,
    };
  }

  #verdict(dkim: DkimOutcome, dmarc: readonly DmarcOutcome[]): { verdict: Verdict; reply: Reply | null } {
    if (this.#opts.dmarcPolicy !== 'enforce') return { verdict: 'accept', reply: null };
    // A header section past the limit was not checked: under "enforce", it could otherwise slip past a p=reject.
    if (dkim.headerTooLarge) return { verdict: 'reject', reply: replies.headerSectionTooLarge(MAX_HEADER_SECTION) };
    const refusing = dmarc.find((d) => d.disposition === 'reject');
    if (refusing !== undefined) return { verdict: 'reject', reply: replies.dmarcRefused(refusing.domain) };
    if (dmarc.some((d) => d.disposition === 'quarantine')) return { verdict: 'junk', reply: null };
    return { verdict: 'accept', reply: null };
  }

  /** Once the header section is read: the keys of the signatures and the author domains' DMARC records. */
  #prefetch(check: DkimCheck): void {
    for (const { domain, selector } of check.signatureKeys()) this.#lookups.prefetch(`${selector}._domainkey.${domain}`, 'TXT');
    const domains = new Set(check.authorDomains);
    for (const d of [...domains].slice(0, MAX_AUTHOR_DOMAINS)) this.#lookups.prefetch(`_dmarc.${d}`, 'TXT');
  }

  /** The ARC result when there is no chain to check, without a promise; null when there is one. */
  #arcAbsent(dkim: DkimOutcome): ArcOutcome | null {
    if (dkim.headerTooLarge) return { status: 'none', comment: null, result: undefined };
    // No ARC field at all (most mail): what mailauth's arc() answers for an empty chain, without its work.
    if (dkim.arc.chain === false && dkim.arc.error === undefined) return { status: 'none', comment: null, result: NO_ARC };
    return null;
  }

  /** ARC (RFC 8617): recorded, never trusted to override DMARC. mailauth calls every ARC failure "fail"; one due to DNS is a temperror here. */
  async #checkArc(dkim: DkimOutcome): Promise<ArcOutcome> {
    const absent = this.#arcAbsent(dkim);
    if (absent !== null) return absent;
    const lookups = new MessageResolver(this.#opts.resolve);
    try {
      const result = await checkArcChain(dkim.arc as Parameters<typeof checkArcChain>[0], { resolver: lookups.resolve as (name: string, rrtype: string) => Promise<string[][]> });
      const status = result.status.result === 'fail' && lookups.failures > 0 ? 'temperror' : result.status.result;
      return { status, comment: result.status.comment ?? null, result };
    } catch (err) {
      return { status: 'temperror', comment: (err as Error).message, result: undefined };
    }
  }
}

/**
 * The outcome of checks that could not run (a bug, a library surprise, their thread gone): temperror for each method,
 * and the message accepted, since refusing mail over our own fault would lose it.
 */
export function failedChecks(hostname: string, err: Error): CheckResult {
  const comment = `internal error: ${err.message}`;
  const results: MethodResult[] = ['spf', 'dkim', 'dmarc'].map((method) => ({ method, result: 'temperror', comment }));
  return { header: formatAuthenticationResults(hostname, results), verdict: 'accept', reply: null, summary: `checks failed: ${err.message}`, error: err };
}

function spfResults(mailFrom: SpfOutcome | null, helo: SpfOutcome | null, facts: SpfFacts): MethodResult[] {
  const out: MethodResult[] = [];
  if (mailFrom !== null) out.push({ method: 'spf', result: mailFrom.result, comment: mailFrom.comment ?? undefined, properties: [['smtp.mailfrom', facts.mailFrom ?? '']] });
  if (helo !== null) {
    const comment = facts.mailFrom === null ? `${helo.comment ?? ''}${helo.comment ? '; ' : ''}null sender: the HELO identity stands for MAIL FROM` : helo.comment;
    out.push({ method: 'spf', result: helo.result, comment: comment ?? undefined, properties: [['smtp.helo', facts.helo ?? '']] });
  }
  if (out.length === 0) out.push({ method: 'spf', result: 'none', comment: 'no MAIL FROM domain and no HELO domain to check', properties: [['smtp.helo', facts.helo ?? '']] });
  return out;
}

function dkimResults(dkim: DkimOutcome): MethodResult[] {
  if (dkim.headerTooLarge) return [{ method: 'dkim', result: 'permerror', comment: `header section over ${MAX_HEADER_SECTION / 1024} KiB, not checked` }];
  return dkim.results.map((r) => {
    const s = r.status;
    const weak = s.policy?.['dkim-rules'] === 'weak-key' ? 'weak key' : '';
    return {
      method: 'dkim',
      result: s.result,
      comment: (typeof s.comment === 'string' ? s.comment : '') || weak || undefined,
      properties: r.signingDomain
        ? [
            ['header.d', r.signingDomain],
            ['header.s', r.selector ?? ''],
            ['header.a', r.algo ?? ''],
            ['header.b', typeof s.header?.b === 'string' ? s.header.b : ''],
          ]
        : [],
    };
  });
}

const ACTIONS: Readonly<Record<Disposition, string>> = { reject: 'refused', quarantine: 'to the Junk folder', none: 'no action' };

function dmarcResults(dkim: DkimOutcome, dmarc: readonly DmarcOutcome[], authorDomains: readonly string[], mode: DmarcPolicyMode): MethodResult[] {
  if (dkim.headerTooLarge) return [{ method: 'dmarc', result: 'permerror', comment: 'header section not checked' }];
  if (authorDomains.length === 0) return [{ method: 'dmarc', result: 'none', comment: 'no From: address' }];
  return dmarc.map((d) => {
    const action = d.result !== 'fail' ? null : mode === 'enforce' ? ACTIONS[d.disposition] : `policy ${d.disposition}, report only`;
    const comment = [d.comment, action].filter((x) => x !== null && x !== '').join('; ');
    return { method: 'dmarc', result: d.result, comment: comment || undefined, properties: [['header.from', d.domain]] };
  });
}
