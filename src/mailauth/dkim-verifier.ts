// DKIM signature verification (RFC 6376 §6.1) built on mailauth's parts: its parsing of the signatures, the From:
// field and the ARC chain (messageHeaders), its header-field selection and canonicalisation. Ours: the body hashes
// (BodyHash: bounded memory, LF or CRLF), the key lookup (DkimKeyCache: a key is parsed once, not per message), and
// the checks of §6.1.1 that mailauth leaves out (From: signed, i= within d=, no rsa-sha1 per RFC 8301).
import { createHash, verify } from 'node:crypto';
import { generateCanonicalizedHeader } from 'mailauth/lib/dkim/header/index.js';
import { DkimVerifier, type DkimResultRow, type SignatureHeader } from 'mailauth/lib/dkim/dkim-verifier.js';
import { getSigningHeaderLines, parseHeaders, type ParsedHeaders } from 'mailauth/lib/tools.js';
import { BodyHash } from './body-hash.js';
import type { DkimKeyCache } from './dkim-public-key.js';
import type { DnsResolve } from './dns-resolve.js';

export class MessageDkimVerifier extends DkimVerifier {
  readonly #resolve: DnsResolve;
  readonly #keys: DkimKeyCache;
  readonly #now: Date;

  constructor(resolve: DnsResolve, keys: DkimKeyCache, now: Date) {
    super({ resolver: resolve });
    this.#resolve = resolve;
    this.#keys = keys;
    this.#now = now;
  }

  /** The whole header section at once (its end is already known): parsed, signatures and From: read, hashers set up. */
  async writeHeaderSection(section: Buffer): Promise<void> {
    this.state = 'body';
    this.headers = parseHeaders(section);
    await this.messageHeaders(this.headers);
  }

  /** mailauth's own setup, then a BodyHash for each (canonicalisation, hash, l=) the signatures need. */
  override async messageHeaders(headers: ParsedHeaders): Promise<void> {
    await super.messageHeaders(headers);
    for (const key of [...this.bodyHashes.keys()]) {
      const [canonicalization, algorithm, limit] = key.split(':');
      const l = limit === undefined || limit === '' ? null : Number(limit);
      this.bodyHashes.set(key, new BodyHash(canonicalization === 'simple' ? 'simple' : 'relaxed', algorithm === 'sha1' ? 'sha1' : 'sha256', l));
    }
  }

  writeBody(chunk: Buffer): void {
    for (const hash of this.bodyHashes.values()) (hash as BodyHash).update(chunk);
  }

  /** Checks every signature; fills `results` (DKIM-Signature fields) and the ARC chain's last message signature. */
  async verifyAll(): Promise<void> {
    const bodyHashes = new Map<string, string>();
    for (const [key, hash] of this.bodyHashes) bodyHashes.set(key, (hash as BodyHash).digest());
    const rows = await Promise.all(this.signatureHeaders.filter((s) => s.type !== 'AS').map((s) => this.#verifyOne(s, bodyHashes)));
    const results: DkimResultRow[] = [];
    this.signatureHeaders
      .filter((s) => s.type !== 'AS')
      .forEach((s, i) => {
        const row = rows[i] as DkimResultRow;
        if (s.type === 'ARC') {
          const last = this.arc.lastEntry as { messageSignature?: DkimResultRow } | undefined;
          if (last !== undefined) last.messageSignature = row;
        } else {
          results.push(row);
        }
      });
    this.results = results.length > 0 ? results : [{ status: { result: 'none', comment: 'message not signed' } }];
  }

  async #verifyOne(sig: SignatureHeader, bodyHashes: ReadonlyMap<string, string>): Promise<DkimResultRow> {
    const tags = sig.parsed ?? {};
    const value = (name: string) => {
      const v = tags[name]?.value;
      return typeof v === 'string' || typeof v === 'number' ? String(v) : '';
    };
    const domain = sig.signingDomain ?? '';
    const b = value('b');
    const row = (result: string, comment?: string): DkimResultRow => ({
      signingDomain: domain,
      selector: sig.selector ?? '',
      algo: value('a'),
      status: { result, ...(comment !== undefined ? { comment } : {}), header: { i: domain ? `@${domain}` : false, s: sig.selector ?? '', a: value('a'), b: b.slice(0, 8) || false } },
    });
    if (sig.skip === true || !sig.bodyHashKey) return row('permerror', 'unsupported or malformed signature');
    const signed = value('h').toLowerCase().split(':').map((h) => h.trim());
    // RFC 6376 §6.1.1: a signature that does not cover From:, or whose i= is outside d=, is not to be considered.
    if (sig.type === 'DKIM' && !signed.includes('from')) return row('permerror', 'From: not signed');
    const identity = value('i').toLowerCase();
    if (sig.type === 'DKIM' && identity !== '') {
      const iDomain = identity.slice(identity.lastIndexOf('@') + 1);
      if (iDomain !== domain.toLowerCase() && !iDomain.endsWith(`.${domain.toLowerCase()}`)) return row('permerror', 'i= is not within d=');
    }
    if (sig.hashAlgo === 'sha1') return row('permerror', 'rsa-sha1 is not accepted (RFC 8301)');
    if (value('bh') !== bodyHashes.get(sig.bodyHashKey)) return row('fail', 'body hash did not verify');
    const key = await this.#keys.lookup(this.#resolve, `${sig.selector}._domainkey.${domain}`);
    if (!key.ok) return row(key.result, key.comment);
    if (key.type !== sig.signAlgo) return row('permerror', 'the key type does not match a=');
    if (key.hashes !== null && !key.hashes.includes(sig.hashAlgo ?? '')) return row('permerror', 'the key does not allow this hash algorithm');
    const { canonicalizedHeader } = generateCanonicalizedHeader(sig.type, getSigningHeaderLines((this.headers as ParsedHeaders).parsed, value('h'), true), {
      signatureHeaderLine: sig.original,
      canonicalization: sig.canonicalization ?? '',
      instance: sig.type === 'ARC' ? tags['i']?.value : false,
    });
    const signature = Buffer.from(b, 'base64');
    let good: boolean;
    try {
      // RSA signs the canonical header; Ed25519 signs its SHA-256 digest (RFC 8463 §3).
      good = key.type === 'rsa' ? verify(sig.hashAlgo ?? 'sha256', canonicalizedHeader, key.key, signature) : verify(null, createHash('sha256').update(canonicalizedHeader).digest(), key.key, signature);
    } catch (err) {
      return row('permerror', (err as Error).message);
    }
    if (!good) return row('fail', 'bad signature');
    if (sig.expiration && sig.timestamp && sig.expiration < sig.timestamp) return row('neutral', 'invalid expiration');
    if (sig.expiration && sig.expiration < this.#now) return row('neutral', 'expired');
    return row('pass');
  }
}
