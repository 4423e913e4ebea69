// The Received header we prepend to every message (RFC 5321 §4.4, protocol names from RFC 3848 / RFC 6531).
import { formatAddress, type Address } from '../../mail/address.js';
import type { Session, Transaction } from './session.js';

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number): string => String(n).padStart(2, '0');

/** RFC 5322 §3.3 date-time, always in UTC: "Mon, 23 Nov 2026 12:00:00 +0000". */
export function formatMessageDate(d: Date): string {
  return (
    `${DAYS[d.getUTCDay()]}, ${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`
  );
}

/** "with" protocol of the Received header; RFC 3848 adds "A" after a successful AUTH (ESMTPSA, UTF8SMTPSA). */
function protocolName(session: Session, tx: Transaction): string {
  if (session.greeting?.esmtp !== true) return 'SMTP';
  const base = tx.params.smtputf8 ? 'UTF8SMTP' : 'ESMTP';
  return `${base}${session.tls === null ? '' : 'S'}${session.auth == null ? '' : 'A'}`;
}

/**
 * Keeps text that is not ours from breaking out of the comment it is placed in, or out of the header: controls
 * (C0, DEL, C1 such as U+0085), format characters (bidirectional overrides), separators (U+2028/U+2029, spaces) and
 * unassigned code points become "?", as do the comment's own delimiters. HELO names are already refused with these
 * (helo.ts); this is the second line, for everything else written here.
 */
const sanitize = (s: string): string => s.replace(/[\p{C}\p{Z}()\\]/gu, '?');

export interface ReceivedOptions {
  readonly session: Session;
  readonly transaction: Transaction;
  readonly hostname: string;
  readonly date: Date;
}

/** The Received header, folded, each line ending in LF like the stored message. */
export function receivedHeader({ session, transaction, hostname, date }: ReceivedOptions): string {
  const helo = sanitize(session.greeting?.name ?? 'unknown');
  const lines = [`Received: from ${helo} ([${session.remoteAddress}])`, `\tby ${hostname} (facteur) with ${protocolName(session, transaction)} id ${session.id}`];
  if (session.tls !== null) lines.push(`\t(version=${session.tls.protocol} cipher=${sanitize(session.tls.cipher)})`);
  // The login only when the operator asked for it (submission.received_shows_user): it travels with the message.
  if (session.auth?.receivedAs != null) lines.push(`\t(authenticated as ${sanitize(session.auth.receivedAs)})`);
  const only: Address | undefined = transaction.recipients.length === 1 ? transaction.recipients[0] : undefined;
  // "for" only with one recipient: naming them all would disclose Bcc recipients to each other.
  const forClause = only === undefined ? '' : `for <${sanitize(formatAddress(only))}>`;
  lines.push(`\t${forClause}${forClause === '' ? '' : '; '}${formatMessageDate(date)}`);
  return `${lines.join('\n')}\n`;
}
