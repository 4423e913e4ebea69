// DKIM verification of every signature of a message as it streams (RFC 6376 §6), with mailauth's verifier; its body
// hashers are replaced by BodyHash (bounded memory, LF or CRLF), and only the header section is held.
import { DkimVerifier, type ArcData, type DkimResultRow } from 'mailauth/lib/dkim/dkim-verifier.js';
import type { ParsedHeaders } from 'mailauth/lib/tools.js';
import { BodyHash, type BodyCanonicalization } from './body-hash.js';
import type { DnsResolve } from './dns-resolve.js';
import { HeaderSection } from './header-section.js';

/** mailauth's verifier, with BodyHash for each (canonicalisation, hash, l=) it needs. */
class BoundedDkimVerifier extends DkimVerifier {
  override async messageHeaders(headers: ParsedHeaders): Promise<void> {
    await super.messageHeaders(headers);
    for (const key of [...this.bodyHashes.keys()]) {
      const [canonicalization, algorithm, limit] = key.split(':');
      this.bodyHashes.set(
        key,
        new BodyHash(canonicalization === 'simple' ? 'simple' : 'relaxed', algorithm === 'sha1' ? 'sha1' : 'sha256', limit === undefined || limit === '' ? null : Number(limit)),
      );
    }
  }

  // BodyHash takes LF line endings itself: no need to copy every line to turn LF into CRLF first.
  override *ensureLinebreaks(input: Buffer): Generator<Buffer> {
    yield input;
  }
}

export interface DkimOutcome {
  /** One row per DKIM-Signature (a single "none" row when there is none), as mailauth reports them. */
  readonly results: readonly DkimResultRow[];
  /** The addresses of the From: field(s). */
  readonly headerFrom: readonly string[];
  /** The ARC chain found in the header section, for mailauth's arc(). */
  readonly arc: ArcData;
  /** The header section passed MAX_HEADER_SECTION: nothing was verified. */
  readonly headerTooLarge: boolean;
}

export interface DkimSignatureRef {
  readonly domain: string;
  readonly selector: string;
}

/** One message's DKIM check: write() each chunk, then finish(). */
export class DkimCheck {
  readonly #verifier: BoundedDkimVerifier;
  readonly #header = new HeaderSection();
  readonly #onHeader: (check: DkimCheck) => void;
  #headerTooLarge = false;

  constructor(resolve: DnsResolve, onHeader: (check: DkimCheck) => void = () => {}) {
    this.#verifier = new BoundedDkimVerifier({ resolver: resolve });
    this.#onHeader = onHeader;
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.#header.state === 'complete') return this.#verifier.writeAsync(chunk);
    if (this.#header.state === 'too-large') return;
    const rest = this.#header.push(chunk);
    if (this.#header.tooLarge()) this.#headerTooLarge = true;
    else if (rest !== null) await this.#headerDone(rest);
  }

  async finish(): Promise<DkimOutcome> {
    if (this.#header.state === 'reading') {
      this.#header.end();
      await this.#headerDone(Buffer.alloc(0), true);
    }
    const v = this.#verifier;
    if (this.#headerTooLarge) return { results: [], headerFrom: [], arc: { chain: false }, headerTooLarge: true };
    await v.finish();
    for (const r of v.results) {
      // A body that does not match bh= is a failed signature (RFC 6376 §6.1.3), not a "neutral" one as mailauth says.
      if (r.status.result === 'neutral' && r.status.comment === 'body hash did not verify') r.status.result = 'fail';
    }
    return { results: v.results, headerFrom: v.headerFrom, arc: v.arc, headerTooLarge: false };
  }

  /** The (d=, s=) of each DKIM-Signature and ARC signature, once the header section is read: their keys can be fetched early. */
  signatureKeys(): DkimSignatureRef[] {
    return this.#verifier.signatureHeaders
      .filter((s) => s.skip !== true && s.signingDomain && s.selector)
      .map((s) => ({ domain: s.signingDomain as string, selector: s.selector as string }));
  }

  /** The From: addresses, once the header section is read. */
  get headerFrom(): readonly string[] {
    return this.#verifier.headerFrom;
  }

  /** `atEnd`: the message ended without an empty line; one is added so that the verifier sees where the header ends. */
  async #headerDone(rest: Buffer, atEnd = false): Promise<void> {
    const header = this.#header.header as Buffer;
    await this.#verifier.writeAsync(header);
    if (atEnd) await this.#verifier.writeAsync(Buffer.from(header.length === 0 || header[header.length - 1] === 0x0a ? '\n' : '\n\n'));
    this.#onHeader(this);
    if (rest.length > 0) await this.#verifier.writeAsync(rest);
  }
}

export type { BodyCanonicalization };
