// Domain names turned into A-labels (UTS #46, as node:url's domainToASCII does), remembered: the From: domains of the
// mail a server receives repeat, and the conversion, a native call, was a visible cost per message.
import { domainToASCII } from 'node:url';

/** Distinct names remembered at most; the oldest goes first. */
const MAX_ENTRIES = 10_000;

export class AsciiDomains {
  readonly #memo = new Map<string, string>();

  /** domainToASCII(domain): "" for a name it refuses. */
  readonly toAscii = (domain: string): string => {
    let ascii = this.#memo.get(domain);
    if (ascii === undefined) {
      ascii = domainToASCII(domain);
      if (this.#memo.size >= MAX_ENTRIES) this.#memo.delete(this.#memo.keys().next().value as string);
      this.#memo.set(domain, ascii);
    }
    return ascii;
  };
}
