// Subaddressing (RFC 5233's "detail", Postfix's recipient_delimiter): "alice+shop" is alice's, with the detail "shop",
// which may name a Maildir++ folder of alice's mailbox.
import { isMailboxName } from '../mail/local-users.js';

/**
 * Splits a local part at the first of any of the delimiter characters (Postfix: any one of them splits); null when
 * none is there, the delimiters are "" (off), or the part before would be empty ("+shop" is nobody's detail).
 */
export function splitDetail(local: string, delimiters: string): { readonly base: string; readonly detail: string } | null {
  if (delimiters === '') return null;
  const chars = [...local];
  const at = chars.findIndex((c) => delimiters.includes(c));
  if (at <= 0) return null;
  return { base: chars.slice(0, at).join(''), detail: chars.slice(at + 1).join('') };
}

/**
 * Whether a detail may name a Maildir++ folder (a path is built from it, so the check is strict): letters, digits,
 * ".", "_" and "-" only (no "/", no control or other character), no leading or trailing ".", no "..". A dot inside
 * names a nested folder (".shop.amazon", Maildir++'s separator), as Dovecot reads it.
 */
export function isSafeFolderName(detail: string): boolean {
  return isMailboxName(detail) && !detail.startsWith('.') && !detail.endsWith('.') && !detail.includes('..');
}
