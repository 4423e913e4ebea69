// The courier to remote MX hosts: one attempt walks the hosts in order under each host's TLS policy, with per-recipient outcomes.
import { domainToASCII } from 'node:url';
import { isIPv6 } from 'node:net';
import type { Logger } from '../observability/logger.js';
import { type Address, formatAddress } from '../mail/address.js';
import { type ClientError, ConnectionLostError, ClientTimeoutError, isClientError, RemoteProtocolError, RemoteReplyError } from '../smtp/client/client-errors.js';
import type { Capabilities } from '../smtp/client/ehlo-capabilities.js';
import { type ClientTimeouts, SmtpClient } from '../smtp/client/smtp-client.js';
import { isPermanent, isPositive, type Reply, replyText } from '../mail/reply.js';
import type { CachedConnection, ConnectionCache } from './connection-cache.js';
import type { Courier, TransferRequest, TransferResult } from './courier.js';
import type { MxHost, MxResolver } from './mx-resolver.js';
import { Outcomes } from './recipient-outcomes.js';
import { startTlsOutcome, verdictForCached } from './session-tls.js';
import type { HostTlsPolicy } from './tls-policy/host-policy.js';
import type { OutboundTls } from './tls-policy/outbound-tls.js';
import { checkBeforeConnect, checkTls, refusalText, tlsLogFields, type TlsVerdict } from './tls-policy/tls-check.js';

export interface SmtpCourierOptions {
  /** Our name in EHLO. */
  readonly hostname: string;
  /** The port dialled on every MX host (25 in production). */
  readonly port: number;
  /**
   * The TLS policy of each MX host (DANE, MTA-STS, outbound.tls = "verify", opportunistic; tls-policy/), decided once
   * per attempt, and the STARTTLS options that let it be checked (SNI, the trust store).
   */
  readonly tlsPolicy: Pick<OutboundTls, 'decide' | 'startTlsOptions'>;
  readonly resolver: Pick<MxResolver, 'resolve'>;
  readonly timeouts: ClientTimeouts;
  readonly logger: Logger;
  /** Aborts the attempt (shutdown): recipients not done stay transient. */
  readonly signal?: AbortSignal;
  /** Sessions kept open between transfers to the same address (connection-cache.ts); without it, one connection per attempt. */
  readonly cache?: ConnectionCache;
  /** The addresses to send from, per family (a host whose IPv6 address has no PTR record sends from IPv4 only). */
  readonly source?: { readonly ipv4: string | null; readonly ipv6: string | null };
  /** The clock certificates' dates are checked against (DANE-TA); the system's by default. */
  readonly now?: () => Date;
}

type Relay = NonNullable<TransferResult['relay']>;

/** What one session with one address leads to, and what the TLS policy made of it (null: no TLS step was reached). */
type Step = { readonly verdict: TlsVerdict | null; readonly tls: string | null } & (
  | { readonly kind: 'next-address' | 'next-host'; readonly summary: string }
  /** The handshake failed and the host's policy allows plain text: the same address again, without STARTTLS. */
  | { readonly kind: 'retry-plain'; readonly summary: string; readonly verdict: TlsVerdict }
  /** The walk ends: a transaction was completed (or refused for good); relay is set when the message was taken. */
  | { readonly kind: 'done'; readonly summary: string; readonly relay: Relay | null }
);

/** What a transaction leads to (the TLS facts are added by the session that ran it). */
type TransactionStep = { readonly kind: 'next-host'; readonly summary: string } | { readonly kind: 'done'; readonly summary: string; readonly relay: Relay | null };

interface Attempt {
  readonly req: TransferRequest;
  readonly opts: SmtpCourierOptions;
  readonly log: Logger;
  readonly outcomes: Outcomes;
  /** The latest TLS verdict of the walk: the relay's when a host took the message, else why the last host failed. */
  verdict: TlsVerdict | null;
}

/**
 * One attempt: resolve the MX hosts, decide each one's TLS policy, then walk them in preference order and, for
 * each, its addresses in order (IPv6 before IPv4). The first host that completes a transaction ends the walk, so
 * exactly one copy is sent. A host its policy refuses (not listed by MTA-STS enforce, no STARTTLS or a certificate
 * that does not verify where one is required) gets nothing, not even MAIL: the next one is tried, and when none is
 * left the recipients stay transient with the refusal as their last error (never bounced for it).
 */
export class SmtpCourier implements Courier {
  readonly #opts: SmtpCourierOptions;

  constructor(opts: SmtpCourierOptions) {
    this.#opts = opts;
  }

  async deliver(req: TransferRequest): Promise<TransferResult> {
    const opts = this.#opts;
    const log = opts.logger.child({ id: req.id, domain: req.domain });
    const a: Attempt = { req, opts, log, outcomes: new Outcomes(req.recipients, `no MX host of ${req.domain} could be reached`), verdict: null };
    let relay: Relay | null = null;
    try {
      const mx = await opts.resolver.resolve(req.domain);
      if (mx.kind === 'hosts') {
        // MTA-STS and DNS speak A-labels (the MX lookup did the same).
        const domain = req.domain.startsWith('[') ? req.domain : domainToASCII(req.domain) || req.domain;
        const policy = await opts.tlsPolicy.decide(domain, mx.hosts.map((h) => h.name));
        log.debug({ tls_policies: policy.hosts.map((p) => `${p.host}: ${p.policy}${p.skip !== null ? ' (skipped)' : ''}`), mx_authenticated: policy.mxAuthenticated }, 'TLS policy decided');
        relay = await walk(a, mx.hosts, policy.hosts);
      } else {
        log.warn({ outcome: mx.reason, kind: mx.kind }, 'MX resolution failed');
        // A standard reply in front lets the bounce carry the right Status (5.1.2, 5.1.10) instead of 5.0.0.
        const diagnostic = mx.kind === 'permanent' && mx.reply !== undefined ? `${mx.reply} ${mx.reason}` : mx.reason;
        a.outcomes.settle(a.outcomes.pending(), mx.kind, diagnostic, null);
      }
    } catch (err) {
      // Not the remote's doing (the body file could not be read, a bug): try again later, never bounce on it.
      log.error({ err }, 'delivery attempt failed locally');
      a.outcomes.note(a.outcomes.pending(), `local error: ${(err as Error).message}`, null);
    }
    a.outcomes.settle(a.outcomes.pending(), 'transient');
    return { outcomes: a.outcomes.list(), relay, verdict: a.verdict };
  }
}

async function walk(a: Attempt, hosts: readonly MxHost[], policies: readonly HostTlsPolicy[]): Promise<Relay | null> {
  for (const [i, host] of hosts.entries()) {
    const policy = policies[i] as HostTlsPolicy;
    const refused = checkBeforeConnect(policy);
    if (refused !== null) {
      // Not even a connection: an MX an enforced MTA-STS policy does not list, a host whose TLSA records are unknown.
      const summary = refusalText(host.name, refused);
      a.outcomes.note(a.outcomes.pending(), summary, null);
      a.verdict = refused;
      a.log.warn({ host: host.name, ip: null, tls: null, step: 'next-host', outcome: summary, ...tlsLogFields(refused) }, 'delivery attempt');
      continue;
    }
    for (const ip of host.addresses) {
      if (a.outcomes.pending().length === 0) return null;
      let step = await session(a, host, policy, ip, null);
      if (step.kind === 'retry-plain') {
        // As Postfix does: a broken TLS stack should delay mail no more than a server without STARTTLS. Only a
        // policy that allows plain text gets here (checkTls: opportunistic, outbound.tls = "opportunistic").
        a.log.warn({ host: host.name, ip, outcome: step.summary, ...tlsLogFields(step.verdict) }, 'TLS failed; retrying the same address in plain text (tls = "opportunistic")');
        step = await session(a, host, policy, ip, step.verdict);
      }
      if (step.verdict !== null) a.verdict = step.verdict;
      const fields = { host: host.name, ip, tls: step.tls, step: step.kind, outcome: step.summary, ...(step.verdict !== null ? tlsLogFields(step.verdict) : {}) };
      a.log[step.kind === 'done' ? 'info' : 'warn'](fields, 'delivery attempt');
      if (step.kind === 'done') return step.relay;
      if (step.kind !== 'next-address') break;
    }
  }
  return null;
}

/**
 * One session with one address: a cached one when there is one that satisfies the host's policy, else a new
 * connection. `plain` is set for the plain-text retry after a failed handshake: no STARTTLS, and that verdict stands.
 * Failures of the server or the network become the step to take next.
 */
async function session(a: Attempt, host: MxHost, policy: HostTlsPolicy, ip: string, plain: TlsVerdict | null): Promise<Step> {
  const key = `${ip}:${a.opts.port}`;
  const cached = plain === null ? (a.opts.cache?.take(key, a.opts.signal) ?? null) : null;
  if (cached !== null) {
    const step = await reuse(a, cached, host, policy, ip, key);
    if (step !== null) return step;
  }
  const where = `${host.name} [${ip}]:${a.opts.port}`;
  let client: SmtpClient | null = null;
  let verdict: TlsVerdict | null = plain;
  let kept = false;
  try {
    client = await SmtpClient.connect({
      host: ip,
      port: a.opts.port,
      localHostname: a.opts.hostname,
      timeouts: a.opts.timeouts,
      // A cached session outlives this message: its logs must not carry this message's id.
      logger: a.opts.cache !== undefined ? a.opts.logger : a.log,
      ...(a.opts.signal !== undefined ? { signal: a.opts.signal } : {}),
      ...sourceFor(a.opts.source, ip),
    });
    await client.ehlo();
    let handshakeFailed = false;
    if (verdict === null) {
      const outcome = await startTlsOutcome(client, a.opts.tlsPolicy.startTlsOptions(policy));
      handshakeFailed = outcome.kind === 'handshake-failed';
      // At once, while the socket is open: the presented chain is read from it.
      verdict = checkTls(policy, outcome, a.opts.now?.() ?? new Date());
      if (verdict.action === 'retry-plain') return { kind: 'retry-plain', summary: verdict.reason ?? 'TLS failed', verdict, tls: null };
    }
    if (verdict.action === 'next-host') {
      // Refused by the policy: no MAIL is sent. Another address of the same host may still be tried (one server of
      // a pool may be the broken one), then the next host.
      const summary = refusalText(where, verdict);
      a.outcomes.note(a.outcomes.pending(), summary, host.name);
      if (!handshakeFailed) await client.quit();
      return { kind: 'next-address', summary, verdict, tls: client.tls?.protocol ?? null };
    }
    if (verdict.action === 'proceed-report') report(a, host, ip, verdict);
    const step = await transaction(a, client, host, ip);
    kept = await release(a, client, step, key, 1, host.name, verdict);
    return { ...step, verdict, tls: client.tls?.protocol ?? null };
  } catch (err) {
    if (!isClientError(err)) throw err;
    const summary = describe(err, where);
    a.outcomes.note(a.outcomes.pending(), summary, err instanceof RemoteReplyError ? host.name : null);
    return { kind: 'next-address', summary, verdict, tls: client?.tls?.protocol ?? null };
  } finally {
    if (!kept) client?.close();
  }
}

/**
 * A transaction on a cached session (RFC 5321 §3.3: a new MAIL may follow a completed transaction), when the
 * session satisfies this host's policy (session-tls.ts); one that does not goes back to the cache for others.
 * Returns null when the session cannot be used, or turned out dead before the server took anything (closed, timed
 * out or 421 at MAIL, as a server does after its own idle timeout): the caller then opens a fresh connection, and
 * that is no fault of the host.
 */
async function reuse(a: Attempt, cached: CachedConnection, host: MxHost, policy: HostTlsPolicy, ip: string, key: string): Promise<Step | null> {
  const { client } = cached;
  const verdict = verdictForCached(cached, policy, a.opts.now?.() ?? new Date());
  if (verdict === null) {
    a.log.debug({ remote: client.remote, cached_for: cached.host, tls_policy: policy.policy }, 'cached connection does not satisfy this host\'s TLS policy; opening a new one');
    a.opts.cache?.put(key, cached, a.opts.signal);
    return null;
  }
  const where = `${host.name} [${ip}]:${a.opts.port}`;
  let kept = false;
  try {
    if (verdict.action === 'proceed-report') report(a, host, ip, verdict);
    const step = await transaction(a, client, host, ip);
    kept = await release(a, client, step, key, cached.transactions + 1, cached.host, cached.verdict);
    return { ...step, verdict, tls: client.tls?.protocol ?? null };
  } catch (err) {
    if (!isClientError(err)) throw err;
    if ('stage' in err && err.stage === 'mail') {
      a.log.debug({ remote: client.remote, err: err.message }, 'cached connection is dead; opening a new one');
      return null;
    }
    const summary = describe(err, where);
    a.outcomes.note(a.outcomes.pending(), summary, err instanceof RemoteReplyError ? host.name : null);
    return { kind: 'next-address', summary, verdict, tls: client.tls?.protocol ?? null };
  } finally {
    if (!kept) client.close();
  }
}

/**
 * After the transaction: a session whose message was taken is in a clean state (the final reply read, RFC 5321
 * §4.1.1.4), so it goes to the cache when there is one, with the host and verdict it was opened with; otherwise
 * QUIT. True when the cache kept it.
 */
async function release(a: Attempt, client: SmtpClient, step: TransactionStep, key: string, transactions: number, host: string, verdict: TlsVerdict): Promise<boolean> {
  if (step.kind !== 'done' || step.relay === null) return false;
  if (a.opts.cache === undefined) {
    await client.quit();
    return false;
  }
  a.opts.cache.put(key, { client, transactions, host, verdict }, a.opts.signal);
  return true;
}

/** MTA-STS in testing mode: what enforce would have refused is delivered, and said (RFC 8461 §5, for TLS reports). */
function report(a: Attempt, host: MxHost, ip: string, verdict: TlsVerdict): void {
  a.log.warn(
    { event: 'tls-policy-report', host: host.name, ip, ...tlsLogFields(verdict) },
    `TLS policy ${verdict.policy} (testing) would refuse ${host.name}: ${verdict.reason ?? 'not verified'}; delivering anyway`,
  );
}

/** MAIL, RCPT, DATA, the message (QUIT when not taken); on a host whose session is ready (greeting, EHLO, TLS done). */
async function transaction(a: Attempt, client: SmtpClient, host: MxHost, ip: string): Promise<TransactionStep> {
  const { req, outcomes } = a;
  const mta = host.name;
  const caps = client.capabilities;
  const pending = outcomes.pending();
  const refusal = precheck(req, caps, mta);
  if (refusal !== null) {
    outcomes.settle(pending, 'permanent', refusal, mta);
    await client.quit();
    return { kind: 'done', summary: refusal, relay: null };
  }
  const env = await client.envelope(
    formatAddress(req.reversePath),
    mailParams(req, caps),
    pending.map((i) => formatAddress(req.recipients[i] as Address)),
  );
  if (!isPositive(env.mail)) {
    // 5xx to MAIL: no host will take this sender; 4xx: maybe the next host will (RFC 5321 §5.1 tries them all).
    const summary = replyText(env.mail);
    const permanent = isPermanent(env.mail);
    if (permanent) outcomes.settle(pending, 'permanent', summary, mta);
    else outcomes.note(pending, summary, mta);
    await client.quit();
    return permanent ? { kind: 'done', summary, relay: null } : { kind: 'next-host', summary };
  }
  // RCPT replies count only after an accepted MAIL (a pipelined RCPT after a refused MAIL gets a meaningless 503).
  const accepted = pending.filter((i, k) => {
    const r = env.rcpts[k] as Reply;
    if (isPermanent(r)) outcomes.settle([i], 'permanent', replyText(r), mta);
    else if (!isPositive(r)) outcomes.note([i], replyText(r), mta);
    return isPositive(r);
  });
  if (accepted.length === 0) {
    // Nothing to send. 5xx recipients are settled; 4xx ones may fare better with the next host.
    await client.quit();
    const summary = `no recipient accepted by ${mta}`;
    return outcomes.pending().length > 0 ? { kind: 'next-host', summary } : { kind: 'done', summary, relay: null };
  }
  const data = env.data as Reply;
  if (data.code !== 354) {
    const summary = replyText(data);
    const permanent = isPermanent(data);
    if (permanent) outcomes.settle(accepted, 'permanent', summary, mta);
    else outcomes.note(accepted, summary, mta);
    await client.quit();
    return permanent ? { kind: 'done', summary, relay: null } : { kind: 'next-host', summary };
  }
  return sendMessage(a, client, host, ip, accepted);
}

/** After the 354: the message and the final reply for every accepted recipient; QUIT unless it was taken (see release()). */
async function sendMessage(a: Attempt, client: SmtpClient, host: MxHost, ip: string, accepted: readonly number[]): Promise<TransactionStep> {
  const mta = host.name;
  let final: Reply;
  try {
    final = await client.sendBody(a.req.openBody());
  } catch (err) {
    // A 421 after the dot, or a refusal sent in the middle of the data: the server's word on the message.
    if (err instanceof RemoteReplyError && (err.stage === 'final-dot' || err.stage === 'body')) final = err.reply;
    else if (isClientError(err) && 'stage' in err && err.stage === 'final-dot') {
      // The whole message went out and the reply never came: the server may have taken it. Retrying may deliver
      // a second copy (RFC 5321 §4.5.3.2.6, §6.1: the known duplicate problem), but giving up could lose the only one.
      const summary = `${describe(err, `${mta} [${ip}]:${a.opts.port}`)} after the final dot; the message may have been delivered, a retry may duplicate it`;
      a.outcomes.settle(accepted, 'transient', summary, mta);
      return { kind: 'done', summary, relay: null };
    } else throw err;
  }
  const summary = replyText(final);
  const status = isPositive(final) ? 'sent' : isPermanent(final) ? 'permanent' : 'transient';
  a.outcomes.settle(accepted, status, summary, mta);
  if (!isPositive(final)) await client.quit();
  const relay = isPositive(final) ? { host: mta, ip, tls: client.tls?.protocol ?? null } : null;
  return { kind: 'done', summary: `${status}: ${summary}${relay?.tls ? ` (${relay.tls})` : ''}`, relay };
}

/** Reasons to fail every recipient before MAIL, given what the server offers. */
function precheck(req: TransferRequest, caps: Capabilities, mta: string): string | null {
  const limit = caps.sizeLimit;
  if (limit !== null && req.size > limit) return `552 5.3.4 message too big for remote server (${mta} takes at most ${limit} bytes)`;
  // RFC 6531 §3.2: a message that needs SMTPUTF8 must not go to a server that does not offer it.
  if (req.smtputf8 && !caps.smtputf8) return `553 5.6.7 ${mta} does not support SMTPUTF8, which this message needs`;
  return null;
}

/**
 * MAIL parameters. BODY=8BITMIME only when offered; an 8-bit message to a server without 8BITMIME is sent as it
 * is, not downgraded to 7 bits (RFC 6152 would have us convert it or bounce; servers take 8-bit data in practice).
 * SIZE= is the stored size (LF line endings), a little under the CRLF wire size: close enough for the server's early
 * check (RFC 1870), which it repeats on the real data anyway.
 */
function mailParams(req: TransferRequest, caps: Capabilities): string[] {
  const params: string[] = [];
  if (caps.has('SIZE')) params.push(`SIZE=${req.size}`);
  if (req.eightBit && caps.eightBitMime) params.push('BODY=8BITMIME');
  if (req.smtputf8) params.push('SMTPUTF8');
  return params;
}

/** One line on what went wrong with a server, for the diagnostic: the reply itself, or our own words. */
function describe(err: ClientError, where: string): string {
  if (err instanceof RemoteReplyError) return replyText(err.reply);
  if (err instanceof ConnectionLostError) {
    const by = err.code === null || err.code === 'ECONNREFUSED' || err.code === 'ECONNRESET' ? 'by' : 'with';
    return `${err.reason} ${by} ${where}${err.stage === 'connect' ? '' : ` at ${err.stage}`}`;
  }
  if (err instanceof ClientTimeoutError) return `timeout (${err.ms} ms) at ${err.stage} with ${where}`;
  if (err instanceof RemoteProtocolError) return `protocol error from ${where} at ${err.stage}: ${err.message}`;
  return `TLS failed with ${where}: ${err.message}`;
}

/** The configured source address of `ip`'s family, as a connect option. */
function sourceFor(source: SmtpCourierOptions['source'], ip: string): { localAddress?: string } {
  const local = source === undefined ? null : isIPv6(ip) ? source.ipv6 : source.ipv4;
  return local === null ? {} : { localAddress: local };
}
