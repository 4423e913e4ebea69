// What greylisting remembers a delivery attempt by: the client's network, the sender and the recipient (RFC 6647 §4).
import { createHash } from 'node:crypto';
import { isIPv4 } from 'node:net';
import type { Address } from '../mail/address.js';
import { clientKey } from '../smtp/server/client-limits.js';

/**
 * The client's network: an IPv4 /24 ("192.0.2.0/24"), an IPv6 /64. Large senders retry from another address of
 * the same pool (RFC 6647 §4.1 advises a network, not the address), and one IPv6 host usually holds its /64.
 */
export function clientNetwork(ip: string): string {
  if (!isIPv4(ip)) return clientKey(ip);
  const [a, b, c] = ip.split('.');
  return `${a}.${b}.${c}.0/24`;
}

/**
 * The sender as greylisting compares it: lower-cased, without what changes from one message to the next of the
 * same sender (RFC 6647 §4.2): a "+detail" (VERP-style bounce addresses), a BATV tag ("prvs=1234abcd=user"),
 * runs of digits (per-message ids in bounce addresses); an SRS address (whose hash and timestamp change) is its
 * domain only. The null reverse-path is "<>": bounces are greylisted like any message (real MTAs retry them).
 */
export function senderKey(sender: Address | null): string {
  if (sender === null) return '<>';
  const domain = sender.domain.toLowerCase();
  let local = sender.local.toLowerCase();
  if (/^srs[01][=+-]/.test(local)) return `srs@${domain}`;
  local = local.replace(/^prvs=[^=]*=/, '').replace(/\+.*$/, '').replace(/\d+/g, '#');
  return `${local}@${domain}`;
}

/** The recipient as compared: lower-cased, whole (a "+detail" may be another mailbox's address). */
export function recipientKey(recipient: Address): string {
  return `${recipient.local.toLowerCase()}@${recipient.domain.toLowerCase()}`;
}

/**
 * Recipients never greylisted, as postgrey's default whitelist has them: postmaster (RFC 5321 §4.5.1 says it must
 * receive mail, and a delay would hide problem reports) and abuse (RFC 2142), in any local domain or bare.
 */
export function isExemptRecipient(recipient: Address): boolean {
  const local = recipient.local.toLowerCase();
  return local === 'postmaster' || local === 'abuse';
}

/**
 * One triple as stored: a hash, so the file has a fixed size per entry and holds no address in clear (the log
 * says which triple was greylisted when it happens). 128 bits: collisions are out of reach.
 */
export function tripleKey(network: string, sender: string, recipient: string): string {
  return createHash('sha256').update(`${network}\0${sender}\0${recipient}`).digest('base64url').slice(0, 22);
}
