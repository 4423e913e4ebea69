// DKIM signing (RFC 6376 §5; Ed25519 per RFC 8463): the DKIM-Signature fields to put above a message, one per key of
// its From: domain, relaxed/relaxed, no l=, with From: signed once more than it appears (§8.15: no From: can be added).
// The body is hashed as it streams; only the header section is held, up to MAX_HEADER_SECTION. The header section is
// read once (rawHeaderFields), canonicalised by relaxedSignedHeader and the field written here: mailauth's versions of
// these steps cost as much event-loop time as the rest of the relay's work on a small message.
import { createHash, type KeyObject } from 'node:crypto';
import { BodyHash } from './body-hash.js';
import type { DkimKey, DkimKeys } from './dkim-keys.js';
import { mailboxDomains, soleAuthorDomain } from './from-domain.js';
import { HeaderSection } from './header-section.js';
import { fieldValue, rawHeaderFields, type RawHeaderField } from './raw-header-fields.js';
import { relaxedSignedHeader } from './relaxed-header.js';
import { poolSign, type SignFunction } from './threaded-signing.js';

/** The fields signed when present (RFC 6376 §5.4.1's list, the fields a reader sees or a client acts on). */
const SIGNED = new Set([
  'from', 'to', 'cc', 'subject', 'date', 'message-id', 'reply-to', 'in-reply-to', 'references',
  'mime-version', 'content-type', 'content-transfer-encoding',
]);
const isSigned = (name: string) => SIGNED.has(name) || name.startsWith('list-');

export interface SigningResult {
  /** The DKIM-Signature fields to put before the message, each ending in LF ("" when nothing is signed). */
  readonly fields: string;
  /** The d= domain signed for, or null. */
  readonly domain: string | null;
  /** Why nothing was signed, for the log: no single From: domain, no key for it, or a header section too large. */
  readonly skipped: 'no-from-domain' | 'no-key' | 'header-too-large' | null;
}

export interface DkimSignerOptions {
  readonly keys: DkimKeys;
  /** The t= tag's clock. */
  readonly now?: () => Date;
  /** Makes the signatures off the event loop: ThreadedSigning's in the servers, libuv's pool by default. */
  readonly sign?: SignFunction;
}

export class DkimSigner {
  #keys: DkimKeys;
  readonly #now: () => Date;
  readonly #sign: SignFunction;

  constructor(opts: DkimSignerOptions) {
    this.#keys = opts.keys;
    this.#now = opts.now ?? (() => new Date());
    this.#sign = opts.sign ?? poolSign;
  }

  /** SIGHUP: messages started from now on use these keys; those being signed keep theirs. */
  setKeys(keys: DkimKeys): void {
    this.#keys = keys;
  }

  /**
   * Starts signing a message that arrives in chunks (the relay during DATA): write() each chunk, then finish().
   * The signing domain is the From: domain (with `parents`, also a listed parent: for facteur's own bounces).
   */
  start(opts: { parents?: boolean; fromDomain?: string } = {}): MessageSigning {
    return new MessageSigning(this.#keys, this.#now, this.#sign, opts);
  }

  /** Signs a whole message read from `message` (a spooled file read back, a bounce) for the domain given. */
  async sign(message: AsyncIterable<Uint8Array> | Uint8Array, fromDomain: string, opts: { parents?: boolean } = {}): Promise<SigningResult> {
    const run = this.start({ ...opts, fromDomain });
    if (message instanceof Uint8Array) run.write(message);
    else for await (const chunk of message) run.write(chunk);
    return run.finish();
  }
}

/** One message being signed. Lines may end in LF or CRLF. */
export class MessageSigning {
  readonly #keys: DkimKeys;
  readonly #now: () => Date;
  readonly #sign: SignFunction;
  readonly #opts: { parents?: boolean; fromDomain?: string };
  readonly #header = new HeaderSection();
  #signWith: readonly DkimKey[] | null = null;
  #fields: RawHeaderField[] = [];
  #body: BodyHash | null = null;
  #skipped: SigningResult['skipped'] = null;

  constructor(keys: DkimKeys, now: () => Date, sign: SignFunction, opts: { parents?: boolean; fromDomain?: string }) {
    this.#keys = keys;
    this.#now = now;
    this.#sign = sign;
    this.#opts = opts;
  }

  write(chunk: Uint8Array): void {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    if (this.#body !== null) {
      this.#body.update(buf);
      return;
    }
    if (this.#skipped !== null || this.#header.state !== 'reading') return;
    const rest = this.#header.push(buf);
    if (this.#header.tooLarge()) this.#skipped = 'header-too-large';
    else if (rest !== null) this.#headerDone(rest);
  }

  /** The DKIM-Signature fields, once the whole message was written. The signatures are made off the event loop. */
  async finish(): Promise<SigningResult> {
    if (this.#header.state === 'reading') {
      this.#header.end();
      this.#headerDone(Buffer.alloc(0));
    }
    const keys = this.#signWith;
    if (keys === null || this.#body === null) return { fields: '', domain: null, skipped: this.#skipped };
    const bodyHash = this.#body.digest();
    const signed = signedFields(this.#fields);
    const signTime = this.#now();
    const fields = await Promise.all(keys.map((key) => signatureField(this.#sign, key, signed, bodyHash, signTime)));
    return { fields: fields.join(''), domain: keys[0]?.domain ?? null, skipped: null };
  }

  #headerDone(rest: Buffer): void {
    this.#fields = rawHeaderFields(this.#header.header as Buffer);
    const domain = this.#opts.fromDomain?.toLowerCase() ?? authorDomain(this.#fields);
    if (domain === null) {
      this.#skipped = 'no-from-domain';
      return;
    }
    const keys = this.#keys.keysFor(domain, { parents: this.#opts.parents === true });
    if (keys.length === 0) {
      this.#skipped = 'no-key';
      return;
    }
    this.#signWith = keys;
    this.#body = new BodyHash('relaxed', 'sha256');
    if (rest.length > 0) this.#body.update(rest);
  }
}

/** The one author domain (see fromDomain), from the fields already read. */
function authorDomain(fields: readonly RawHeaderField[]): string | null {
  const froms = fields.filter((f) => f.key === 'from');
  return soleAuthorDomain({ fields: froms.length, domains: froms.flatMap((f) => mailboxDomains(fieldValue(f))) });
}

/**
 * The fields to sign, bottom-up as a verifier picks them (RFC 6376 §5.4.2), and h= with one "From" more than there
 * are From: fields: the extra name matches no field, and a From: added later would be picked by it and break the
 * signature (§8.15).
 */
function signedFields(fields: readonly RawHeaderField[]): { names: string[]; fields: RawHeaderField[] } {
  const signed = fields.filter((f) => isSigned(f.key)).reverse();
  return { names: [...signed.map((f) => f.casedKey), 'From'], fields: signed };
}

async function signatureField(sign: SignFunction, key: DkimKey, signed: { names: string[]; fields: RawHeaderField[] }, bodyHash: string, signTime: Date): Promise<string> {
  const head = signatureHead(key, signed.names, bodyHash, signTime);
  // What is signed: the signed fields and this very field with an empty b= (RFC 6376 §3.7), as a verifier rebuilds it.
  const signature = await signHeader(sign, key.algorithm, key.privateKey, relaxedSignedHeader(signed.fields, Buffer.from(head, 'latin1')));
  return `${(head + foldBase64(signature.toString('base64'), 3)).replace(/\r\n/g, '\n')}\n`;
}

/** Folded lines stay within 78 characters (RFC 5322 §2.1.1). */
const LINE = 78;

/**
 * The DKIM-Signature field up to "b=" (RFC 6376 §3.5), folded: tags on lines of at most 78 characters, h= folded
 * between names (FWS is allowed around its colons), b= on a line of its own so that the signature can follow.
 */
function signatureHead(key: DkimKey, names: readonly string[], bodyHash: string, signTime: Date): string {
  let out = 'DKIM-Signature:';
  let col = out.length;
  const put = (text: string, space: boolean) => {
    if (col + (space ? 1 : 0) + text.length > LINE) {
      out += '\r\n ';
      col = 1;
    } else if (space) {
      out += ' ';
      col++;
    }
    out += text;
    col += text.length;
  };
  // mailauth's order, which tools and tests that look for "h=" before "bh=" expect.
  for (const t of [`v=1;`, `a=${key.algorithm};`, `c=relaxed/relaxed;`, `d=${key.domain};`]) put(t, true);
  names.forEach((name, i) => put(`${i === 0 ? 'h=' : ''}${name}${i === names.length - 1 ? ';' : ':'}`, i === 0));
  for (const t of [`s=${key.selector};`, `t=${Math.floor(signTime.getTime() / 1000)};`, `bh=${bodyHash};`]) put(t, true);
  return `${out}\r\n b=`;
}

/** A base64 value folded into lines of at most 78 characters, the first starting at column `col`. */
function foldBase64(value: string, col: number): string {
  const parts: string[] = [];
  let width = LINE - col;
  for (let i = 0; i < value.length; ) {
    parts.push(value.slice(i, i + width));
    i += width;
    width = LINE - 1;
  }
  return parts.join('\r\n ');
}
/** RSA signs the canonical header with SHA-256 (RFC 6376 §3.3.1); Ed25519 signs its SHA-256 digest (RFC 8463 §3). */
function signHeader(sign: SignFunction, algorithm: DkimKey['algorithm'], key: KeyObject, canonical: Buffer): Promise<Buffer> {
  if (algorithm === 'rsa-sha256') return sign('sha256', canonical, key);
  return sign(null, createHash('sha256').update(canonical).digest(), key);
}
