// The bounce: an RFC 3464 delivery status notification inside an RFC 6522 multipart/report, LF line endings.
import type { DkimSigner } from '../mailauth/dkim-signer.js';
import { randomBytes } from 'node:crypto';
import { formatMessageDate } from '../smtp/server/trace-headers.js';
import type { Logger } from '../observability/logger.js';
import { newRecipient, type QueueItem, type QueueRecipient } from './queue-item.js';
import type { QueueStore } from './queue-store.js';

export interface BounceInput {
  /** Our host name: Reporting-MTA and the From address. */
  readonly hostname: string;
  /** The message that could not be delivered (its sender is never "" here: nobody bounces a bounce). */
  readonly original: QueueItem;
  /** Its failed recipients: one report lists them all. */
  readonly failed: readonly QueueRecipient[];
  /** The original header section (up to its empty line), already capped. */
  readonly headers: Buffer;
  readonly date: Date;
  /** "<id@host>", unique. */
  readonly messageId: string;
  /** A fresh random boundary each call; tests may fix it. */
  readonly boundary?: () => string;
}

/** Longest diagnostic we copy: keeps every line of the report well under RFC 5322's 998 characters. */
const MAX_DIAGNOSTIC = 500;

const randomBoundary = (): string => `=_facteur_${randomBytes(12).toString('hex')}`;

/** The whole bounce message, ready to queue from <> to the original sender. */
export function buildBounce(input: BounceInput): Buffer {
  const { hostname, original, failed } = input;
  // RFC 6533: with an internationalised sender or recipient, the report and its headers part use the "global" types.
  const global = original.smtputf8 || [original.from, ...failed.map((r) => r.address)].some(isNonAscii);
  const parts = [
    { type: `text/plain; charset=${global ? 'utf-8' : 'us-ascii'}`, body: Buffer.from(explanation(input)) },
    { type: global ? 'message/global-delivery-status' : 'message/delivery-status', body: Buffer.from(deliveryStatus(input)) },
    { type: global ? 'message/global-headers' : 'text/rfc822-headers', body: withFinalLf(input.headers) },
  ];
  const makeBoundary = input.boundary ?? randomBoundary;
  let boundary = makeBoundary();
  // RFC 2046 §5.1.1: the boundary must not occur in any part. A random one practically never does; check anyway.
  while (parts.some((p) => p.body.includes(`--${boundary}`))) boundary = randomBoundary();

  const header = [
    `From: MAILER-DAEMON@${oneLine(hostname)}`,
    `To: ${oneLine(original.from)}`,
    'Subject: Undelivered Mail Returned to Sender',
    `Date: ${formatMessageDate(input.date)}`,
    `Message-ID: ${oneLine(input.messageId)}`,
    'MIME-Version: 1.0',
    // RFC 3834 §5: an automatic reply, so that responders do not answer it.
    'Auto-Submitted: auto-replied',
    `Content-Type: multipart/report; report-type=${global ? 'global-delivery-status' : 'delivery-status'};`,
    `\tboundary="${boundary}"`,
    '',
    'This is a MIME-encapsulated message.',
    '',
  ].join('\n');
  const chunks: Buffer[] = [Buffer.from(header)];
  for (const part of parts) {
    const encoding = part.body.some((b) => b > 0x7f) ? '8bit' : '7bit';
    chunks.push(Buffer.from(`--${boundary}\nContent-Type: ${part.type}\nContent-Transfer-Encoding: ${encoding}\n\n`), part.body);
    // The line break before a boundary belongs to the boundary (RFC 2046 §5.1.1).
    chunks.push(Buffer.from('\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\n`));
  return Buffer.concat(chunks);
}

function explanation({ hostname, original, failed }: BounceInput): string {
  const lines = [
    `This is the mail system at host ${oneLine(hostname)}.`,
    '',
    'Your message could not be delivered to one or more recipients.',
    'It is attached below (headers only).',
    '',
    `Queue id: ${original.id}`,
    '',
  ];
  for (const r of failed) lines.push(`<${oneLine(r.address)}>: ${oneLine(r.lastError ?? 'delivery failed')}`);
  return `${lines.join('\n')}\n`;
}

/** RFC 3464 §2.2 per-message fields, then one §2.3 block per recipient, blocks separated by empty lines. */
function deliveryStatus({ hostname, original, failed, date }: BounceInput): string {
  const blocks = [[`Reporting-MTA: dns; ${oneLine(hostname)}`, `X-Facteur-Queue-ID: ${original.id}`, `Arrival-Date: ${formatMessageDate(new Date(original.created))}`]];
  for (const r of failed) {
    const block = [`Final-Recipient: ${addressType(r.address)}; ${oneLine(r.address)}`, 'Action: failed', `Status: ${r.dsnStatus ?? '5.0.0'}`];
    if (r.remoteMta !== null) block.push(`Remote-MTA: dns; ${oneLine(r.remoteMta)}`);
    if (r.diagnostic !== null) block.push(diagnosticCode(r.diagnostic));
    block.push(`Last-Attempt-Date: ${formatMessageDate(r.lastAttempt === null ? date : new Date(r.lastAttempt))}`);
    blocks.push(block);
  }
  return `${blocks.map((b) => b.join('\n')).join('\n\n')}\n`;
}

/** RFC 3464 §2.3.6: "smtp" only for an SMTP reply; our own diagnosis (no MX, connection refused…) gets an X- type. */
function diagnosticCode(diagnostic: string): string {
  const text = oneLine(diagnostic);
  return /^[2-5]\d\d(?:\s|$)/.test(text) ? `Diagnostic-Code: smtp; ${text}` : `Diagnostic-Code: X-Facteur; ${text}`;
}

/** RFC 3464 "rfc822" address type, or RFC 6533's "utf-8" for an internationalised address. */
const addressType = (address: string): string => (isNonAscii(address) ? 'utf-8' : 'rfc822');

const isNonAscii = (s: string): boolean => /[^\x00-\x7f]/.test(s);

/** A header field value on one line: no control character can start a new field or part. */
function oneLine(s: string): string {
  const flat = s.replace(/[\x00-\x1f\x7f]+/g, ' ').trim();
  return flat.length > MAX_DIAGNOSTIC ? `${flat.slice(0, MAX_DIAGNOSTIC)}...` : flat;
}

const withFinalLf = (b: Buffer): Buffer => (b.length === 0 || b[b.length - 1] === 0x0a ? b : Buffer.concat([b, Buffer.from('\n')]));

/** The queue item carrying a bounce: from <> to the original sender (who must not be <>), with its body. */
export function bounceItem(opts: {
  readonly id: string;
  readonly hostname: string;
  readonly original: QueueItem;
  readonly failed: readonly QueueRecipient[];
  readonly headers: Buffer;
  readonly now: number;
}): { item: QueueItem; body: Buffer } {
  const { id, hostname, original, failed, headers, now } = opts;
  const sender = original.reversePath;
  if (sender === null) throw new Error('a message from <> is never bounced');
  const body = buildBounce({ hostname, original, failed, headers, date: new Date(now), messageId: `<${id}@${hostname}>` });
  const item: QueueItem = {
    id,
    from: '',
    reversePath: null,
    created: new Date(now).toISOString(),
    size: body.length,
    eightBit: body.some((b) => b > 0x7f),
    smtputf8: original.smtputf8,
    recipients: [newRecipient(original.from, sender)],
  };
  return { item, body };
}

/** How much of the original message a bounce quotes: its header section, at most this many bytes. */
export const BOUNCE_HEADERS_MAX = 64 * 1024;

/**
 * Queues the RFC 3464 report of `failed` from <> to the original sender, durably, through the store; resolves with
 * the bounce's item (for the schedule), or null for a message from <>, which is never bounced.
 */
export async function queueBounce(
  ctx: {
    readonly store: Pick<QueueStore, 'readHeaders' | 'newId' | 'add'>;
    readonly hostname: string;
    readonly logger: Logger;
    readonly now: number;
    /** Signs the report for the host name's domain, or a parent listed in dkim.domains (RFC 6376 §3.5: d= may be a parent). */
    readonly signer?: DkimSigner | null;
  },
  original: QueueItem,
  failed: readonly QueueRecipient[],
): Promise<QueueItem | null> {
  if (original.reversePath === null) return null;
  const headers = await ctx.store.readHeaders(original.id, BOUNCE_HEADERS_MAX).catch((err: unknown) => {
    ctx.logger.warn({ event: 'bounce-headers-unreadable', id: original.id, err }, 'bouncing without the original headers');
    return Buffer.alloc(0);
  });
  const id = ctx.store.newId();
  const { item, body } = bounceItem({ id, hostname: ctx.hostname, original, failed, headers, now: ctx.now });
  const signature = ctx.signer === undefined || ctx.signer === null ? '' : (await ctx.signer.sign(body, ctx.hostname, { parents: true })).fields;
  const signed = signature === '' ? body : Buffer.concat([Buffer.from(signature), body]);
  // The size is the stored message's, signature included: it goes out as MAIL FROM's SIZE= (RFC 1870).
  const stored = await ctx.store.add({ ...item, size: signed.length }, signed);
  ctx.logger.info({ event: 'bounce', id: stored.id, original: original.id, to: original.from, recipients: failed.map((r) => r.address) }, 'bounce queued');
  return stored;
}
