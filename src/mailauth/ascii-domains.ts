// Domain names turned into A-labels (UTS #46, as node:url's domainToASCII does), remembered: the From: domains of the
// mail a server receives repeat, and the conversion, a native call, was a visible cost per message.
import { domainToASCII } from 'node:url';
import { rememberBounded } from '../cache/bounded-map.js';

/** Distinct names remembered at most; the oldest goes first. */
const MAX_ENTRIES = 10_000;

export class AsciiDomains {
  readonly #memo = new Map<string, string>();

  /** domainToASCII(domain): "" for a name it refuses. */
  readonly toAscii = (domain: string): string => {
    let ascii = this.#memo.get(domain);
    if (ascii === undefined) {
      ascii = domainToASCII(domain);
      rememberBounded(this.#memo, domain, ascii, MAX_ENTRIES);
    }
    return ascii;
  };
}
