// DKIM verification of every signature of a message as it streams (RFC 6376 §6): the header section is held (up to
// MAX_HEADER_SECTION), the body only hashed.
import type { ArcData, DkimResultRow } from 'mailauth/lib/dkim/dkim-verifier.js';
import { DkimKeyCache } from './dkim-public-key.js';
import { MessageDkimVerifier } from './dkim-verifier.js';
import type { DnsResolve } from './dns-resolve.js';
import { HeaderSection } from './header-section.js';

export interface DkimOutcome {
  /** One row per DKIM-Signature (a single "none" row when there is none). */
  readonly results: readonly DkimResultRow[];
  /** The domains of the From: field(s)' addresses (lower-cased A-labels, in order, repeats kept). */
  readonly authorDomains: readonly string[];
  /** The ARC chain found in the header section, for mailauth's arc(). */
  readonly arc: ArcData;
  /** The header section passed MAX_HEADER_SECTION: nothing was verified. */
  readonly headerTooLarge: boolean;
}

export interface DkimSignatureRef {
  readonly domain: string;
  readonly selector: string;
}

/** One message's DKIM check: write() each chunk (LF or CRLF line endings), then finish(). */
export class DkimCheck {
  readonly #verifier: MessageDkimVerifier;
  readonly #header = new HeaderSection();
  readonly #onHeader: (check: DkimCheck) => void;
  #headerTooLarge = false;

  /**
   * `keys`: share one cache between messages; `onHeader`: called once the header section is read; `toAscii`: a memo
   * of domainToASCII shared between messages (AsciiDomains), domainToASCII itself by default.
   */
  constructor(resolve: DnsResolve, keys = new DkimKeyCache(), onHeader: (check: DkimCheck) => void = () => {}, now = new Date(), toAscii?: (domain: string) => string) {
    this.#verifier = new MessageDkimVerifier(resolve, keys, now, toAscii);
    this.#onHeader = onHeader;
  }

  /** Synchronous: hashing a chunk waits for nothing, and a promise per chunk would be pure cost. */
  write(chunk: Buffer): void {
    if (this.#header.state === 'complete') return this.#verifier.writeBody(chunk);
    if (this.#header.state === 'too-large') return;
    const rest = this.#header.push(chunk);
    if (this.#header.tooLarge()) this.#headerTooLarge = true;
    else if (rest !== null) this.#headerDone(rest);
  }

  async finish(): Promise<DkimOutcome> {
    if (this.#header.state === 'reading') {
      this.#header.end(); // a message without body
      this.#headerDone(Buffer.alloc(0));
    }
    if (this.#headerTooLarge) return { results: [], authorDomains: [], arc: { chain: false }, headerTooLarge: true };
    const v = this.#verifier;
    await v.verifyAll();
    return { results: v.results, authorDomains: v.authorDomains, arc: v.arc, headerTooLarge: false };
  }

  /** The (d=, s=) of each DKIM-Signature and ARC signature, once the header section is read: their keys can be fetched early. */
  signatureKeys(): DkimSignatureRef[] {
    return this.#verifier.signatureHeaders
      .filter((s) => s.skip !== true && s.signingDomain && s.selector)
      .map((s) => ({ domain: s.signingDomain as string, selector: s.selector as string }));
  }

  /** The From: addresses' domains, once the header section is read. */
  get authorDomains(): readonly string[] {
    return this.#verifier.authorDomains;
  }

  #headerDone(rest: Buffer): void {
    this.#verifier.writeHeaderSection(this.#header.header as Buffer);
    this.#onHeader(this);
    if (rest.length > 0) this.#verifier.writeBody(rest);
  }
}
