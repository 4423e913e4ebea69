// The courier to remote MX hosts: one attempt walks the hosts in order under the TLS policy, with per-recipient outcomes.
import { isIPv6 } from 'node:net';
import type { Logger } from '../observability/logger.js';
import { type Address, formatAddress } from '../mail/address.js';
import {
  ClientTimeoutError,
  type ClientError,
  ConnectionLostError,
  isClientError,
  RemoteProtocolError,
  RemoteReplyError,
  TlsHandshakeError,
} from '../smtp/client/client-errors.js';
import type { Capabilities } from '../smtp/client/ehlo-capabilities.js';
import { type ClientTimeouts, SmtpClient } from '../smtp/client/smtp-client.js';
import { isPermanent, isPositive, type Reply, replyText } from '../mail/reply.js';
import type { CachedConnection, ConnectionCache } from './connection-cache.js';
import type { Courier, RecipientOutcome, RecipientStatus, TransferRequest, TransferResult } from './courier.js';
import type { MxHost, MxResolver } from './mx-resolver.js';

export interface SmtpCourierOptions {
  /** Our name in EHLO. */
  readonly hostname: string;
  /** The port dialled on every MX host (25 in production). */
  readonly port: number;
  /** "opportunistic": STARTTLS when offered, plain text if it fails; "required": never plain text. */
  readonly tls: 'opportunistic' | 'required';
  readonly resolver: Pick<MxResolver, 'resolve'>;
  readonly timeouts: ClientTimeouts;
  readonly logger: Logger;
  /** Aborts the attempt (shutdown): recipients not done stay transient. */
  readonly signal?: AbortSignal;
  /** Sessions kept open between transfers to the same address (connection-cache.ts); without it, one connection per attempt. */
  readonly cache?: ConnectionCache;
  /** The addresses to send from, per family (a host whose IPv6 address has no PTR record sends from IPv4 only). */
  readonly source?: { readonly ipv4: string | null; readonly ipv6: string | null };
}

type Relay = NonNullable<TransferResult['relay']>;

/** What one session with one address leads to. */
type Step =
  | { readonly kind: 'next-address' | 'next-host' | 'tls-failed'; readonly summary: string }
  /** The walk ends: a transaction was completed (or refused for good); relay is set when the message was taken. */
  | { readonly kind: 'done'; readonly summary: string; readonly relay: Relay | null };

interface Attempt {
  readonly req: TransferRequest;
  readonly opts: SmtpCourierOptions;
  readonly log: Logger;
  readonly outcomes: Outcomes;
}

/**
 * One attempt: resolve the MX hosts, then walk them in preference order and, for each, its addresses in order
 * (IPv6 before IPv4). The first host that completes a transaction ends the walk, so exactly one copy is sent.
 */
export class SmtpCourier implements Courier {
  readonly #opts: SmtpCourierOptions;

  constructor(opts: SmtpCourierOptions) {
    this.#opts = opts;
  }

  async deliver(req: TransferRequest): Promise<TransferResult> {
    const opts = this.#opts;
    const log = opts.logger.child({ id: req.id, domain: req.domain });
    const outcomes = new Outcomes(req.recipients, `no MX host of ${req.domain} could be reached`);
    let relay: Relay | null = null;
    try {
      const mx = await opts.resolver.resolve(req.domain);
      if (mx.kind === 'hosts') relay = await walk({ req, opts, log, outcomes }, mx.hosts);
      else {
        log.warn({ outcome: mx.reason, kind: mx.kind }, 'MX resolution failed');
        // A standard reply in front lets the bounce carry the right Status (5.1.2, 5.1.10) instead of 5.0.0.
        const diagnostic = mx.kind === 'permanent' && mx.reply !== undefined ? `${mx.reply} ${mx.reason}` : mx.reason;
        outcomes.settle(outcomes.pending(), mx.kind, diagnostic, null);
      }
    } catch (err) {
      // Not the remote's doing (the body file could not be read, a bug): try again later, never bounce on it.
      log.error({ err }, 'delivery attempt failed locally');
      outcomes.note(outcomes.pending(), `local error: ${(err as Error).message}`, null);
    }
    outcomes.settle(outcomes.pending(), 'transient');
    return { outcomes: outcomes.list(), relay };
  }
}

async function walk(a: Attempt, hosts: readonly MxHost[]): Promise<Relay | null> {
  for (const host of hosts) {
    for (const ip of host.addresses) {
      if (a.outcomes.pending().length === 0) return null;
      let step = await session(a, host, ip, true);
      if (step.kind === 'tls-failed' && a.opts.tls === 'opportunistic') {
        // As Postfix does: a broken TLS stack should delay mail no more than a server without STARTTLS.
        a.log.warn({ host: host.name, ip, outcome: step.summary }, 'TLS failed; retrying the same address in plain text (tls = "opportunistic")');
        step = await session(a, host, ip, false);
      }
      a.log[step.kind === 'done' ? 'info' : 'warn']({ host: host.name, ip, tls: step.tls, step: step.kind, outcome: step.summary }, 'delivery attempt');
      if (step.kind === 'done') return step.relay;
      if (step.kind !== 'next-address') break;
    }
  }
  return null;
}

/**
 * One session with one address: a cached one when there is one, else a new connection. Failures of the server or
 * the network become the step to take next.
 */
async function session(a: Attempt, host: MxHost, ip: string, tryTls: boolean): Promise<Step & { readonly tls: string | null }> {
  const key = `${ip}:${a.opts.port}`;
  const cached = a.opts.cache?.take(key, a.opts.signal) ?? null;
  if (cached !== null) {
    const step = await reuse(a, cached, host, ip, key);
    if (step !== null) return step;
  }
  const where = `${host.name} [${ip}]:${a.opts.port}`;
  let client: SmtpClient | null = null;
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
    const step = await converse(a, client, host, ip, tryTls);
    const tls = client.tls?.protocol ?? null;
    kept = await release(a, client, step, key, 1);
    return { ...step, tls };
  } catch (err) {
    if (!isClientError(err)) throw err;
    const summary = describe(err, where);
    a.outcomes.note(a.outcomes.pending(), summary, err instanceof RemoteReplyError ? host.name : null);
    return { kind: 'next-address', summary, tls: client?.tls?.protocol ?? null };
  } finally {
    if (!kept) client?.close();
  }
}

/**
 * A transaction on a cached session (RFC 5321 §3.3: a new MAIL may follow a completed transaction). Returns null
 * when the session turned out dead before the server took anything (closed, timed out or 421 at MAIL, as a server
 * does after its own idle timeout): the caller then opens a fresh connection, and that is no fault of the host.
 */
async function reuse(a: Attempt, cached: CachedConnection, host: MxHost, ip: string, key: string): Promise<(Step & { readonly tls: string | null }) | null> {
  const { client } = cached;
  const where = `${host.name} [${ip}]:${a.opts.port}`;
  let kept = false;
  try {
    // The TLS policy may have changed since the session was opened: never send in plain text when TLS is required.
    if (a.opts.tls === 'required' && client.tls === null) return null;
    const step = await transaction(a, client, host, ip);
    const tls = client.tls?.protocol ?? null;
    kept = await release(a, client, step, key, cached.transactions + 1);
    return { ...step, tls };
  } catch (err) {
    if (!isClientError(err)) throw err;
    if ('stage' in err && err.stage === 'mail') {
      a.log.debug({ remote: client.remote, err: err.message }, 'cached connection is dead; opening a new one');
      return null;
    }
    const summary = describe(err, where);
    a.outcomes.note(a.outcomes.pending(), summary, err instanceof RemoteReplyError ? host.name : null);
    return { kind: 'next-address', summary, tls: client.tls?.protocol ?? null };
  } finally {
    if (!kept) client.close();
  }
}

/**
 * After the transaction: a session whose message was taken is in a clean state (the final reply read, RFC 5321
 * §4.1.1.4), so it goes to the cache when there is one; otherwise QUIT. True when the cache kept it.
 */
async function release(a: Attempt, client: SmtpClient, step: Step, key: string, transactions: number): Promise<boolean> {
  if (step.kind !== 'done' || step.relay === null) return false;
  if (a.opts.cache === undefined) {
    await client.quit();
    return false;
  }
  a.opts.cache.put(key, client, transactions, a.opts.signal);
  return true;
}

/** After the greeting: EHLO, TLS per policy, then the transaction. */
async function converse(a: Attempt, client: SmtpClient, host: MxHost, ip: string, tryTls: boolean): Promise<Step> {
  await client.ehlo();
  const refusal = await negotiateTls(a, client, host, `${host.name} [${ip}]:${a.opts.port}`, tryTls);
  if (refusal === null) return transaction(a, client, host, ip);
  a.outcomes.note(a.outcomes.pending(), refusal.summary, host.name);
  if (refusal.kind === 'next-host') await client.quit();
  return refusal;
}

/**
 * STARTTLS whenever offered (RFC 3207). Returns null to go on (in TLS, or in plain text when the policy allows),
 * or the step that ends this session: the handshake failed, or TLS is required and not to be had.
 */
async function negotiateTls(a: Attempt, client: SmtpClient, host: MxHost, where: string, tryTls: boolean): Promise<Step | null> {
  const required = a.opts.tls === 'required';
  if (!tryTls) return null;
  if (!client.capabilities.starttls) {
    return required ? { kind: 'next-host', summary: `TLS required but not available: ${where} does not offer STARTTLS` } : null;
  }
  try {
    // SNI with the MX name; an address literal has no name to give.
    await client.startTls(host.name.startsWith('[') ? {} : { servername: host.name });
    return null;
  } catch (err) {
    if (err instanceof RemoteReplyError && err.stage === 'starttls') {
      const summary = `${where} refused STARTTLS: ${replyText(err.reply)}`;
      if (required) return { kind: 'next-host', summary: `TLS required but not available: ${summary}` };
      // RFC 3207 §4: after a refusal the session goes on as before, in plain text.
      a.log.warn({ host: host.name, outcome: summary }, 'STARTTLS refused; continuing in plain text (tls = "opportunistic")');
      return null;
    }
    if (err instanceof TlsHandshakeError || (err instanceof ClientTimeoutError && err.stage === 'tls-handshake')) {
      const summary = `TLS handshake failed with ${where}: ${err.message}`;
      return required ? { kind: 'next-host', summary: `TLS required but not available: ${summary}` } : { kind: 'tls-failed', summary };
    }
    throw err;
  }
}

/** MAIL, RCPT, DATA, the message (QUIT when not taken); on a host whose session is ready (greeting, EHLO, TLS done). */
async function transaction(a: Attempt, client: SmtpClient, host: MxHost, ip: string): Promise<Step> {
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
async function sendMessage(a: Attempt, client: SmtpClient, host: MxHost, ip: string, accepted: readonly number[]): Promise<Step> {
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

/** Per-recipient results as the walk goes: settled ones are final; the others keep their latest failure. */
class Outcomes {
  private readonly final: (RecipientOutcome | undefined)[];
  private readonly latest: { diagnostic: string; remoteMta: string | null }[];

  constructor(
    private readonly recipients: readonly Address[],
    fallback: string,
  ) {
    this.final = recipients.map(() => undefined);
    this.latest = recipients.map(() => ({ diagnostic: fallback, remoteMta: null }));
  }

  /** Indexes of the recipients without a final outcome. */
  pending(): number[] {
    return this.final.flatMap((o, i) => (o === undefined ? [i] : []));
  }

  /** Records the latest failure of recipients still pending, used if nothing better comes. */
  note(indexes: readonly number[], diagnostic: string, remoteMta: string | null): void {
    for (const i of indexes) this.latest[i] = { diagnostic, remoteMta };
  }

  /** Final outcomes; without a diagnostic, each recipient's latest failure is used. */
  settle(indexes: readonly number[], status: RecipientStatus, diagnostic?: string, remoteMta?: string | null): void {
    for (const i of indexes) {
      if (this.final[i] !== undefined) continue;
      const latest = this.latest[i] as { diagnostic: string; remoteMta: string | null };
      this.final[i] = {
        recipient: this.recipients[i] as Address,
        status,
        diagnostic: diagnostic ?? latest.diagnostic,
        remoteMta: diagnostic === undefined ? latest.remoteMta : (remoteMta ?? null),
      };
    }
  }

  /** Every recipient's outcome, in request order (call settle() on the pending ones first). */
  list(): RecipientOutcome[] {
    return this.final.map((o, i) => {
      if (o !== undefined) return o;
      const latest = this.latest[i] as { diagnostic: string; remoteMta: string | null };
      return { recipient: this.recipients[i] as Address, status: 'transient', ...latest };
    });
  }
}

/** The configured source address of `ip`'s family, as a connect option. */
function sourceFor(source: SmtpCourierOptions['source'], ip: string): { localAddress?: string } {
  const local = source === undefined ? null : isIPv6(ip) ? source.ipv6 : source.ipv4;
  return local === null ? {} : { localAddress: local };
}
