// Where mail for one recipient goes (the router's answer): local mailboxes, each with its Maildir++ folder or the
// inbox, and outside addresses to forward to; with the tree of rules that led there, for logs and `facteur route`.
import type { Address } from '../mail/address.js';
import type { Reply } from '../mail/reply.js';

/** One local copy: a mailbox, and the Maildir++ folder ("shop" for .shop) or null for the inbox. */
export interface MailboxTarget {
  readonly mailbox: string;
  readonly folder: string | null;
  /**
   * The address that reached the mailbox ("alice+shop@…", an alias's target "alice@…"): what the local store is given
   * for it (inbound.lmtp_recipient = "address"), and where recipients the store refuses after the data are requeued.
   */
  readonly address: Address;
}

/** The rule that matched at one step of the expansion. */
export type RouteRule = 'mailbox' | 'subaddress' | 'catch-all' | 'alias' | 'forward' | 'srs' | 'dropped';

/** One step: the address looked at, the rule that took it, and what it led to. */
export interface RouteNode {
  /** As written: "alice+shop@example.org". */
  readonly address: string;
  readonly rule: RouteRule;
  /** The mailbox (mailbox, subaddress, catch-all). */
  readonly mailbox?: string;
  /** The Maildir++ folder used, or null for the inbox (mailbox rules). */
  readonly folder?: string | null;
  /** Why a subaddress's detail did not pick a folder (no such folder, a name refused, subfolders off). */
  readonly note?: string;
  /** The alias key that matched ("info@example.org", "@example.org"), or the SRS original. */
  readonly via?: string;
  /** A target that leads nowhere (rule "dropped"): what it would have been answered alone. */
  readonly reply?: Reply;
  readonly children?: readonly RouteNode[];
}

export interface Route {
  /** The recipient, as given. */
  readonly recipient: Address;
  /** Distinct mailboxes (the first folder met wins for a mailbox reached twice). */
  readonly mailboxes: readonly MailboxTarget[];
  /** Distinct outside addresses (case-insensitive). */
  readonly forwards: readonly Address[];
  readonly tree: RouteNode;
}
