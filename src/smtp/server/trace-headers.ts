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

/** "with" protocol of the Received header. */
function protocolName(session: Session, tx: Transaction): string {
  if (session.greeting?.esmtp !== true) return 'SMTP';
  const base = tx.params.smtputf8 ? 'UTF8SMTP' : 'ESMTP';
  return session.tls === null ? base : `${base}S`;
}

/** Keeps client-supplied text from breaking out of the comment it is placed in. */
const sanitize = (s: string): string => s.replace(/[^\x21-\x7e\u0080-\uffff]/gu, '?').replace(/[()\\]/g, '?');

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
  const only: Address | undefined = transaction.recipients.length === 1 ? transaction.recipients[0] : undefined;
  // "for" only with one recipient: naming them all would disclose Bcc recipients to each other.
  const forClause = only === undefined ? '' : `for <${sanitize(formatAddress(only))}>`;
  lines.push(`\t${forClause}${forClause === '' ? '' : '; '}${formatMessageDate(date)}`);
  return `${lines.join('\n')}\n`;
}
