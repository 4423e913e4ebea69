// Differential and mutation tests of facteur's own DKIM code (issue #10, "impossible to trick, never a crash"): on
// seeded random messages, signed by facteur and by mailauth, then mutated, facteur's verdict per signature must equal
// mailauth's dkimVerify and a whole-text reading of RFC 6376 written here; facteur's signatures must verify with
// mailauth; InboundChecks must answer every message, hostile ones included, with a well-formed header; and the
// Authentication-Results filter must match a whole-text reference however the message is cut.
//
// Every case is a pure function of its seed (mulberry32 below): a failure names its seed and case, and
// DKIM_DIFF_SEED=<seed> runs that one case alone in each generated test.
import assert from 'node:assert/strict';
import { createHash, createPrivateKey, createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import type { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { DkimVerifier, type DkimResultRow } from 'mailauth/lib/dkim/dkim-verifier.js';
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import { AuthResultsFilter } from '../../../src/mailauth/auth-results-filter.js';
import { BodyHash } from '../../../src/mailauth/body-hash.js';
import { DkimCheck } from '../../../src/mailauth/dkim-check.js';
import { DkimKeys, type DkimKey } from '../../../src/mailauth/dkim-keys.js';
import { DkimKeyCache } from '../../../src/mailauth/dkim-public-key.js';
import { DkimSigner } from '../../../src/mailauth/dkim-signer.js';
import { InboundChecks } from '../../../src/mailauth/message-checks.js';

// ---------------------------------------------------------------------------------------------------------------
// Seeded randomness

/** mulberry32: a small PRNG whose whole state is one 32-bit number, so that a seed names a case. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Rng {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
  /** Random cut points of a text of `length`, as chunk boundaries. */
  cuts(length: number, max: number): number[] {
    const n = this.int(max + 1);
    return [...new Set(Array.from({ length: n }, () => this.int(length + 1)))].sort((x, y) => x - y);
  }
}

/** DKIM_DIFF_SEED=<seed>: run that one case alone (then the checks that the cases reach every outcome are off). */
const ONE_SEED = process.env['DKIM_DIFF_SEED'] ? Number(process.env['DKIM_DIFF_SEED']) : null;

/** The seeds of a generated test: `count` consecutive seeds from `base`, or the one DKIM_DIFF_SEED names. */
function seeds(base: number, count: number): number[] {
  return ONE_SEED !== null ? [ONE_SEED] : Array.from({ length: count }, (_, i) => base + i);
}

/** Cuts a buffer at the given points. */
function chunksAt(data: Buffer, at: readonly number[]): Buffer[] {
  const points = [0, ...at.filter((p) => p > 0 && p < data.length), data.length];
  const out: Buffer[] = [];
  for (let i = 0; i + 1 < points.length; i++) out.push(data.subarray(points[i], points[i + 1]));
  return out.length === 0 ? [data] : out;
}

/** A buffer cut in pieces of 1 octet to 70 KiB (log-uniform, so that small and large pieces both occur). */
function randomChunks(rng: Rng, data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; ) {
    const size = Math.max(1, Math.floor(Math.exp(rng.next() * Math.log(70 * 1024))));
    out.push(data.subarray(i, i + size));
    i += size;
  }
  return out.length === 0 ? [data] : out;
}

/** The octets of a text as a latin1 string: one character per octet, as the message builders below work. */
const octets = (s: string) => Buffer.from(s, 'utf8').toString('latin1');
const bytes = (s: string) => Buffer.from(s, 'latin1');
/** A message for a failure report: cut short, unless one seed is run alone (DKIM_DIFF_SEED), when it is shown whole. */
const show = (s: string, max = ONE_SEED !== null ? Infinity : 600) => JSON.stringify(s.length > max ? `${s.slice(0, max)}…(${s.length} octets)` : s);

// ---------------------------------------------------------------------------------------------------------------
// Keys, and the TXT records both verifiers are given

const NOW = new Date('2026-03-01T12:00:00Z');
const DOMAIN = 'example.org';
// Fixed keys, made for this test and used nowhere else, so that every run signs the same octets: a failure found
// with one seed is found again with it (RSA PKCS#1 v1.5 and Ed25519 signatures depend only on the key and the data).
const RSA512_PKCS8 = [
  'MIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEAnWJaEgfXHJ6Z+pG0GdwWYztv4Mj0G8SV1TUsT/jc/gsZa63+F7PieDFS',
  '5hS71+SvNIGb+pRH5LdXDirAsZnSSwIDAQABAkAs5wSfpFEBP1bbIHrr7dkNUsXmsi7DRWEiRVtxLaWPbRSnQs4/o9JxBgwOV9xSYxJl',
  'HaULH6BqlsDjXPQhScdRAiEAz6diEamI6fDfm026CvY6CUa4sDD9OOX5nB8sRb2Gdo0CIQDCBsn48Cbxx+h4lRjMneAkoCeUnjv2gxe3',
  'dFJ4PT5CNwIhAKY4+eLjkCqcW5JpJMzTj1+PkhXQEVOznBziQ0FMVk+dAiEAgAAAkHTGDG2IZLxfvuVMMH1jfz0ga9Ex/ToFCgPFJeMC',
  'IEIUBq1PESJsHaA2uJi2l+h0/1Wx7hUqKfye1+gU1DcG',
].join('');
const RSA1024_PKCS8 = [
  'MIICdwIBADANBgkqhkiG9w0BAQEFAASCAmEwggJdAgEAAoGBAMR5tzaoiVEIxB/LMaFF0YzicwpR5qHreLiXr7rwMaaEHP8M4O3i45E9',
  'JQxMsT97KDnfMVq3RKOYosMIQ+nfqoX7zEgmojaG1GoHZnernwxCCy69jnTv2Ud6RSFLOB10ip7APzb4K+ykjMkZVH96vJc5iJD7H/6y',
  'OTU4stPh5mYrAgMBAAECgYAA/5FTwMV52O6OLs0gwacP7TKiccoXNogVgAfPjlriOrefACTAcK+xVDs09crMxMZujNjGWjoKDsN89DTM',
  'ImvOYjBNnf/6VH/L6kuwfzmwKKkXrt8FT5kPZm/KAPI5RsrKgZmMPn2EZwPJiVxsFo/zsaZS5pfa4hUTLPk1w1IxEQJBAPWDzw7o3CH7',
  'TQxbLrGq1iSNit2WKNLauH1g4LTHrqyTGMCtsD1tFM58L7H+BvcrmmPld2Jaw9hb1s75hGiveekCQQDM3cNuIzCDgGLeIoHuR7Y7R4/q',
  'MQvUceAYa/xe6bobtfLc7qrVES8RHT6TMHSuliwJIYYOlG5oHoQLozgAjX7zAkEAlvQHEGy+RKqFsg4yRIz8g5b/hcS4rwRKINS69Iw9',
  '6t+6fWWNkgcKnvaeQLsmvzxw/fDtmWyjM9kr1zB1aARUWQJAUOjIlUfqkhTzdx2TySKjUvgpW2mxbV7oDV0gl++hI+6REzZjW7DksNKm',
  '8wSxIH6It7Z4tmtiy1Y5+kqlBHrdhwJBAKSd0rMCxbQK9d3BsYqWINa9h4PeiGY8MFzmqoOppbIrLHTxQMJ7Vs3PI6esjzdMiNCLq/Ey',
  'XsPhZ6qfhm0ySdI=',
].join('');
const RSA2048_PKCS8 = [
  'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCl3bbfs7eKkJCIx5sUK7Tc/SHkdNUbILI0HaLB5vjBIbCKAeMHwhqb',
  'WteQWXnapBD8Ks4KOynImmnBRdnmeCiuzNqKC30XDibofL6DOMtriKucukdjIafkb4O40x0aC63HYW5dI/TH9sTUifvnVxOjuS1sUbUd',
  'bjciRb1qTkgy3/ZlG/c9MoWoUBZB/jmlRPanUvHGBOOCk2pTfFqTgCQ5vjxAL2JoM2Otg9xM4Z/9cp7JBbvaB6L3J3gO6QYFCevcfipl',
  'DEknaomewA/jmIOkLo8ZGh18fXJ9/9h6u2oT4owWB8NTrCL48l1xD5HfD+4FuE2b1bb/68A9aujKXK6RAgMBAAECggEACGn1V2a59kz8',
  'D/w0KTNIYvdySzEECHLBp3QjZ/ur/bwURQPwfNnDWMMkcT2guU8eT3RqbElxBqySlcvR0GejBK7+nQcVKuC8Z4nAbk6ovwU5U2N9sJEp',
  '/6QKhgsrjEEwaQ9PtmjXB3fEp1Vyklsv81u26qpAakRHhrUL9UMQVYhC8cpoBZY7qNqypATkSBqSujofRNyEaum7Y/2GustClrOhBdZe',
  'RIBZJiz+zgT9lS2am3KFmgwkQ3W2ue5+Vzx/kvmg7SEnaHUxxFrt2YJNErnZJJwwboHYg2UCNxL6NpiYTYjoMvc11tBKFeJom4/u5/0T',
  'EuKtn9BfdlNZ9HG9CwKBgQDfRYkyHmityjHGCDTI+FHtkD+umo7Cf9wKxNDsFOup2vL+A4NdDwPK/OfxAoN5ifl9kpRkbk15F9q5wG28',
  'kLBKLPogeZjlaJy7ICVkvYynLqo+F7KEs7J/Tto24BHv4PGtUvJV8fgir3KNSKd95AJdv187n5RC+rnq8dlNm2dyGwKBgQC+LfwMisRb',
  'YkSzRlYGwcBrF9tblNHH4j9gqCA61qxllQbJ2RNaLatyJcJ2DPkJNwySDuQmmEs3G/E1sK7viNh4zGpJ2gqpRXnktNajkYhLHJ8plSZf',
  'BCQ8DM0vBAb6BSNkghN78foqtumCSxjrIdwhIB3tJFr6s3R/V+dd+x6MwwKBgQCWUz4dRYYbROCgQdQwX6jht1Z5G8z0vZuMkJlN6oQF',
  'N8qVJg5jMIHQQNl1VsjoovIdDvzkZbO5zUrR9/KqnAxl1MSP6u77vqSQBQPIQSsbQPsUlWX3nPmYZ6HagqDxDlYJ6agKH8F+sPwCjiFf',
  'TI4fSoM3JKlxM1jMDAvQCcrrcwKBgFYmjp8/3WNoSKbNnfrBmmDpFb2O1NkvbHZksvT0enQp5kFZzKJ1Pc0fvc+sYMQD4/XmOQQiyS/V',
  'wJcJyrVH0IgoUZ3S4DF9/5HTOcgvDQa5mIBFyHQSdDeftPMvZ9mqqjXFlv32x9TBt1YGnuslE4sN+YCLj4sx7/wf3fd84oHxAoGAbU+w',
  'LzbwgtvWw6KnWreAJCA+FPMbRPL6e6hjlkCf77DDZVM09ESk116kIEZDKcm8X89W+J0fEVsKEggZvwJqqFKGQNiX2m+mH7qtbGlF1bp2',
  '+MNEr/GwEg2xTuWdaqeBYHjbYZZhWNxTUNE9ZIwpJV2O2Qa5ZXUAijp6KQitHOY=',
].join('');

const pair = (privateKey: KeyObject) => ({ privateKey, publicKey: createPublicKey(privateKey) });
const rsaKey = (der: string) => pair(createPrivateKey({ key: Buffer.from(der, 'base64'), format: 'der', type: 'pkcs8' }));
const rsa1024 = rsaKey(RSA1024_PKCS8);
const rsa2048 = rsaKey(RSA2048_PKCS8);
const rsa512 = rsaKey(RSA512_PKCS8);
/** Ed25519 from a fixed 32-octet seed (RFC 8410 PKCS#8 prefix + seed). */
const ed = pair(createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), createHash('sha256').update('dkim-differential').digest()]), format: 'der', type: 'pkcs8' }));

interface TestKey {
  readonly selector: string;
  readonly algorithm: 'rsa-sha256' | 'ed25519-sha256';
  readonly pair: { publicKey: KeyObject; privateKey: KeyObject };
}
const R1: TestKey = { selector: 'r1', algorithm: 'rsa-sha256', pair: rsa1024 };
const R2: TestKey = { selector: 'r2', algorithm: 'rsa-sha256', pair: rsa2048 };
const E1: TestKey = { selector: 'e1', algorithm: 'ed25519-sha256', pair: ed };
/** RSA 512: under RFC 8301 §3.2's 1024 bits; both verifiers answer "policy". */
const W1: TestKey = { selector: 'w1', algorithm: 'rsa-sha256', pair: rsa512 };
const KEYS = [R1, R2, E1, W1];

const pem = (k: TestKey) => k.pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const PEMS = new Map(KEYS.map((k) => [k.selector, pem(k)]));
const rsaP = (k: TestKey) => k.pair.publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
const edP = (k: TestKey) => k.pair.publicKey.export({ type: 'spki', format: 'der' }).subarray(12).toString('base64');
const dkimKey = (k: TestKey): DkimKey => ({ domain: DOMAIN, selector: k.selector, algorithm: k.algorithm, privateKey: k.pair.privateKey, file: '' });

/** What a key record should give, as the RFCs read it: the key, or the result for a signature that uses it. */
type KeyVerdict =
  | { readonly ok: true; readonly key: KeyObject; readonly type: 'rsa' | 'ed25519'; readonly hashes: readonly string[] | null; readonly bits: number }
  | { readonly ok: false; readonly result: 'permerror' | 'temperror' | 'policy'; readonly why: string };

/**
 * How the record of a selector is served in one case. Most are "good"; the others are the key problems of RFC 6376
 * §6.1.2 and RFC 8301/8463, each with what the RFCs say it gives.
 */
const RECORD_VARIANTS = ['good', 'good', 'good', 'good', 'good', 'good', 'split', 'revoked', 'missing', 'servfail', 'empty-answer', 'v2', 'key-h-sha1', 'garbage', 'other-type', 'no-k'] as const;
type RecordVariant = (typeof RECORD_VARIANTS)[number];

interface Served {
  readonly answer: string[][] | Error;
  readonly verdict: KeyVerdict;
  readonly variant: RecordVariant;
}

const dnsError = (code: string) => Object.assign(new Error(code), { code });

function serve(k: TestKey, variant: RecordVariant): Served {
  const isEd = k.algorithm === 'ed25519-sha256';
  const type = isEd ? 'ed25519' : 'rsa';
  const p = isEd ? edP(k) : rsaP(k);
  const good = `v=DKIM1; k=${type}; p=${p}`;
  const bits = isEd ? 0 : (k.pair.publicKey.asymmetricKeyDetails?.modulusLength ?? 0);
  const ok: KeyVerdict = bits !== 0 && bits < 1024 ? { ok: false, result: 'policy', why: 'weak key (RFC 8301 §3.2)' } : { ok: true, key: k.pair.publicKey, type, hashes: null, bits };
  const fail = (result: 'permerror' | 'temperror', why: string): KeyVerdict => ({ ok: false, result, why });
  switch (variant) {
    case 'good':
      return { answer: [[good]], verdict: ok, variant };
    case 'split': // character-strings to join (RFC 6376 §3.6.2.2), with spaces the verifier removes
      return { answer: [[good.slice(0, 20), ` ${good.slice(20, 60)} `, good.slice(60)]], verdict: ok, variant };
    case 'revoked':
      return { answer: [[`v=DKIM1; k=${type}; p=`]], verdict: fail('permerror', 'key revoked'), variant };
    case 'missing':
      return { answer: dnsError('ENOTFOUND'), verdict: fail('permerror', 'no key'), variant };
    case 'servfail':
      return { answer: dnsError('ESERVFAIL'), verdict: fail('temperror', 'DNS failure'), variant };
    case 'empty-answer':
      return { answer: [], verdict: fail('permerror', 'no key'), variant };
    case 'v2':
      return { answer: [[`v=DKIM2; k=${type}; p=${p}`]], verdict: fail('permerror', 'unknown key version'), variant };
    case 'key-h-sha1': // §3.6.1 h=: the hash algorithms the key may be used with
      return { answer: [[`${good}; h=sha1`]], verdict: ok.ok ? { ...ok, hashes: ['sha1'] } : ok, variant };
    case 'garbage':
      return { answer: [[`v=DKIM1; k=${type}; p=!!notbase64!!`]], verdict: fail('permerror', 'invalid public key'), variant };
    case 'other-type': // a key of the other type, truthfully labelled: it does not suit a= (§6.1.2 step 6)
      return isEd
        ? { answer: [[`v=DKIM1; k=rsa; p=${rsaP(R1)}`]], verdict: { ok: true, key: R1.pair.publicKey, type: 'rsa', hashes: null, bits: 1024 }, variant }
        : { answer: [[`v=DKIM1; k=ed25519; p=${edP(E1)}`]], verdict: { ok: true, key: E1.pair.publicKey, type: 'ed25519', hashes: null, bits: 0 }, variant };
    case 'no-k': // k= defaults to rsa (§3.6.1): an Ed25519 key without k=ed25519 is not an RSA key
      return isEd ? { answer: [[`v=DKIM1; p=${p}`]], verdict: fail('permerror', 'not an RSA key (k= defaults to rsa)'), variant } : { answer: [[`v=DKIM1; p=${p}`]], verdict: ok, variant };
  }
}

/** What InboundChecks looks up besides keys: SPF for the two envelope domains, DMARC p=reject and p=quarantine. */
const SPF_AND_DMARC: Record<string, string[][]> = {
  'example.org': [['v=spf1 ip4:192.0.2.0/24 -all']],
  '_dmarc.example.org': [['v=DMARC1; p=reject']],
  'example.net': [['v=spf1 ip4:198.51.100.0/24 ~all']],
  '_dmarc.example.net': [['v=DMARC1; p=quarantine']],
};

/** The DNS of one case: each selector's record as chosen, everything else "no such name". Names are case-insensitive. */
class World {
  readonly byName = new Map<string, Served>();
  constructor(rng: Rng | null, extra: Record<string, string[][]> = SPF_AND_DMARC) {
    for (const k of KEYS) this.byName.set(`${k.selector}._domainkey.${DOMAIN}`, serve(k, rng === null || rng.chance(0.75) ? 'good' : rng.pick(RECORD_VARIANTS)));
    for (const [name, answer] of Object.entries(extra)) this.byName.set(name, { answer, verdict: { ok: false, result: 'permerror', why: 'not a key' }, variant: 'good' });
  }
  readonly resolve = async (name: string, rrtype: string): Promise<unknown> => {
    const s = this.byName.get(name.toLowerCase().replace(/\.$/, ''));
    if (s === undefined) throw dnsError('ENOTFOUND');
    if (rrtype !== 'TXT') throw dnsError('ENODATA');
    if (s.answer instanceof Error) throw s.answer;
    return s.answer;
  };
  verdict(name: string): KeyVerdict {
    return this.byName.get(name.toLowerCase().replace(/\.$/, ''))?.verdict ?? { ok: false, result: 'permerror', why: 'no key' };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Messages

const WORDS = ['hello', 'world', 'invoice', 'meeting', 'the', 'a', 'of', 'Re:', 'lorem', 'ipsum', 'x', '--', '.', 'From', 'DKIM', '=?UTF-8?B?w6k=?=', octets('réunion'), octets('naïve'), octets('voilà'), octets('日本語'), octets('Ünïcödé'), octets('Šéf')];
const SPACES = [' ', ' ', ' ', ' ', '  ', '\t', ' \t ', '   '];

function words(rng: Rng, n: number): string {
  let out = rng.pick(WORDS);
  for (let i = 1; i < n; i++) out += rng.pick(SPACES) + rng.pick(WORDS);
  return out;
}

/** A field as lines: the value cut at some of its spaces into continuation lines (RFC 5322 §2.2.3 folding). */
function field(rng: Rng, name: string, value: string): string[] {
  const head = rng.chance(0.1) ? name.toUpperCase() : rng.chance(0.1) ? name.toLowerCase() : name;
  const colon = rng.chance(0.08) ? `${rng.pick([' ', '\t'])}:` : ':';
  const lead = rng.chance(0.1) ? '' : rng.chance(0.85) ? ' ' : rng.pick(['  ', '\t', ' \t']);
  const lines: string[] = [];
  let line = `${head}${colon}${lead}`;
  const parts = value.split(/(?<=[ \t])/);
  for (const part of parts) {
    if (line.trim().length > 0 && line.length > 20 && rng.chance(0.25) && /^[ \t]/.test(part) === false && /[ \t]$/.test(line)) {
      // Folding puts a line break before WSP: move the WSP that ends the line to the start of the next.
      const ws = /[ \t]+$/.exec(line)?.[0] ?? ' ';
      lines.push(line.slice(0, line.length - ws.length));
      line = ws;
    }
    line += part;
  }
  lines.push(line + (rng.chance(0.08) ? rng.pick([' ', '\t', '  ']) : ''));
  return lines;
}

const ADDRESSES = ['alice@example.org', 'Alice <alice@example.org>', `"Dupont, ${octets('Élise')}" <elise@example.org>`, 'bob@example.net', 'Bob Example <bob@example.net>'];

function headerFields(rng: Rng): string[][] {
  const fields: string[][] = [];
  if (rng.chance(0.5)) fields.push(field(rng, 'Received', `from mail.example.net (mail.example.net [192.0.2.7]) by mx.example.org with ESMTPS id ${rng.int(1e9).toString(36)}; Sun, 1 Mar 2026 11:59:00 +0000`));
  const body: [string, () => string][] = [
    ['To', () => (rng.chance(0.7) ? rng.pick(ADDRESSES) : `${rng.pick(ADDRESSES)}, ${rng.pick(ADDRESSES)}`)],
    ['Subject', () => words(rng, rng.range(1, 14))],
    ['Date', () => 'Sun, 1 Mar 2026 11:58:00 +0000'],
    ['Message-ID', () => `<${rng.int(1e9).toString(36)}@example.org>`],
    ['List-Id', () => 'Example list <list.example.org>'],
    ['List-Unsubscribe', () => '<mailto:unsubscribe@example.org>, <https://example.org/u>'],
    ['MIME-Version', () => '1.0'],
    ['Content-Type', () => (rng.chance(0.5) ? 'text/plain; charset=utf-8' : 'multipart/alternative; boundary="b1"')],
    ['X-Mailer', () => words(rng, 3)],
    ['Cc', () => rng.pick(ADDRESSES)],
    ['Reply-To', () => rng.pick(ADDRESSES)],
  ];
  const from = () => (rng.chance(0.85) ? rng.pick(ADDRESSES.filter((a) => a.includes(DOMAIN))) : `${rng.pick(ADDRESSES)}, ${rng.pick(ADDRESSES)}`);
  const picked = body.filter(() => rng.chance(0.55));
  const at = rng.int(picked.length + 1);
  picked.splice(at, 0, ['From', from]);
  for (const [name, value] of picked) fields.push(field(rng, name, value()));
  if (rng.chance(0.2)) fields.push(field(rng, 'Subject', words(rng, 3))); // a repeated field (h= takes them bottom-up)
  return fields;
}

function bodyLines(rng: Rng): string[] {
  const shape = rng.int(10);
  if (shape === 0) return []; // empty body
  const lines: string[] = [];
  const n = shape === 1 ? rng.range(1, 3) : rng.range(1, 25);
  for (let i = 0; i < n; i++) {
    const kind = rng.int(12);
    if (kind === 0) lines.push('');
    else if (kind === 1) lines.push(rng.pick([' ', '\t', '  \t ', ' ']));
    else if (kind === 2) lines.push(words(rng, rng.range(200, 700))); // long lines (kilobytes)
    else if (kind === 3) lines.push(`${words(rng, rng.range(1, 8))}${rng.pick([' ', '\t', '  ', ' \t'])}`); // trailing WSP
    else if (kind === 4) lines.push(`${rng.pick(SPACES)}${words(rng, 4)}`); // leading WSP
    else if (kind === 5) lines.push(rng.pick(['.', '..', 'From me', '--b1', '--b1--', '=20']));
    else lines.push(words(rng, rng.range(1, 16)));
  }
  const trailing = rng.int(5) === 0 ? rng.range(1, 4) : 0;
  for (let i = 0; i < trailing; i++) lines.push(rng.pick(['', '', ' ', '\t']));
  return lines;
}

interface Shape {
  readonly text: string;
  /** The same message as mailauth needs it to see a header section: a message without its empty line gets one. */
  readonly withSeparator: string;
}

/** A whole message (latin1 string): CRLF, LF or mixed endings, maybe no final line ending, maybe no body separator. */
function message(rng: Rng): Shape {
  const mode = rng.pick(['\n', '\r\n', '\n', '\r\n', 'mixed'] as const);
  const eol = () => (mode === 'mixed' ? rng.pick(['\n', '\r\n']) : mode);
  const lines = headerFields(rng).flat();
  const noSeparator = rng.chance(0.06);
  const body = noSeparator ? [] : bodyLines(rng);
  let text = lines.map((l, i) => (i === lines.length - 1 && noSeparator && rng.chance(0.5) ? l : l + eol())).join('');
  if (!noSeparator) {
    text += eol();
    const finalEol = body.length === 0 || rng.chance(0.8);
    text += body.map((l, i) => (i === body.length - 1 && !finalEol ? l : l + eol())).join('');
  }
  const withSeparator = noSeparator ? `${text}${text.endsWith('\n') ? '' : '\r\n'}\r\n` : text;
  return { text, withSeparator };
}

// ---------------------------------------------------------------------------------------------------------------
// Signing: facteur's DkimSigner, and mailauth's dkimSign with its options drawn at random

const facteurSigners = {
  both: new DkimSigner({ keys: new DkimKeys([dkimKey(R1), dkimKey(E1)]), now: () => NOW }),
  rsa2048: new DkimSigner({ keys: new DkimKeys([dkimKey(R2)]), now: () => NOW }),
};

/** facteur's signature fields for `text` (LF endings), written in chunks cut at random places. */
async function facteurSign(rng: Rng, text: string, signer: DkimSigner = facteurSigners.both): Promise<string> {
  const run = signer.start({ fromDomain: DOMAIN });
  for (const c of chunksAt(bytes(text), rng.cuts(text.length, 8))) run.write(c);
  const r = await run.finish();
  assert.equal(r.skipped, null);
  return r.fields;
}

interface MailauthSigning {
  readonly key: TestKey;
  readonly algorithm: string;
  readonly canonicalization: string;
  readonly maxBodyLength?: number;
  readonly headerList?: string[];
  readonly signTime: Date;
  readonly expires?: Date;
}

function mailauthOptions(rng: Rng, bodyLength: number): MailauthSigning {
  const key = rng.pick([R1, R1, E1, E1, R2, W1]);
  const sha1 = key.algorithm === 'rsa-sha256' && rng.chance(0.1);
  const day = 86_400_000;
  const time = rng.int(10);
  return {
    key,
    algorithm: sha1 ? 'rsa-sha1' : key.algorithm,
    canonicalization: rng.pick(['relaxed/relaxed', 'relaxed/simple', 'simple/relaxed', 'simple/simple']),
    ...(rng.chance(0.15) ? { maxBodyLength: rng.int(bodyLength + 20) } : {}),
    ...(rng.chance(0.1) ? { headerList: rng.pick([['Subject', 'To'], ['From', 'Subject', 'Date'], ['from', 'FROM', 'x-none']]) } : {}),
    // t= and x=: mostly none, some expired (x= past), some x= before t= (RFC 6376 §3.5 "x= MUST be greater than t=")
    signTime: time === 0 ? new Date(NOW.getTime() + 2 * day) : NOW,
    ...(time === 0 ? { expires: new Date(NOW.getTime() + day) } : time === 1 ? { expires: new Date(NOW.getTime() - day) } : time === 2 ? { expires: new Date(NOW.getTime() + day) } : {}),
  };
}

/** mailauth's signature fields (CRLF endings) for `text` (with its body separator: mailauth signs nothing without one). */
async function mailauthSign(text: string, o: MailauthSigning): Promise<string> {
  const r = await dkimSign(bytes(text), {
    signingDomain: DOMAIN,
    selector: o.key.selector,
    privateKey: PEMS.get(o.key.selector) as string,
    signTime: o.signTime,
    ...(o.expires !== undefined ? { expires: o.expires } : {}),
    ...(o.headerList !== undefined ? { headerList: o.headerList } : {}),
    signatureData: [
      {
        signingDomain: DOMAIN,
        selector: o.key.selector,
        privateKey: PEMS.get(o.key.selector) as string,
        algorithm: o.algorithm,
        canonicalization: o.canonicalization,
        ...(o.maxBodyLength !== undefined ? { maxBodyLength: o.maxBodyLength } : {}),
      },
    ],
  });
  assert.deepEqual(r.errors, [], 'mailauth signs');
  return r.signatures;
}

// ---------------------------------------------------------------------------------------------------------------
// Mutations

interface Layout {
  /** The offset of the body (after the empty line), or the length when there is none. */
  readonly bodyStart: number;
  /** Each field: [start, end) including its line endings. */
  readonly fields: { start: number; end: number; name: string }[];
}

function layout(text: string): Layout {
  const fields: { start: number; end: number; name: string }[] = [];
  let pos = 0;
  while (pos < text.length) {
    const lf = text.indexOf('\n', pos);
    const next = lf < 0 ? text.length : lf + 1;
    const line = text.slice(pos, lf < 0 ? text.length : lf).replace(/\r$/, '');
    if (line === '' && lf >= 0) return { bodyStart: next, fields };
    const last = fields[fields.length - 1];
    if ((line.startsWith(' ') || line.startsWith('\t')) && last !== undefined) last.end = next;
    else fields.push({ start: pos, end: next, name: line.slice(0, Math.max(0, line.indexOf(':'))).trim().toLowerCase() });
    pos = next;
  }
  return { bodyStart: text.length, fields };
}

const insertAt = (s: string, at: number, what: string) => s.slice(0, at) + what + s.slice(at);
const randomOctet = (rng: Rng) => String.fromCharCode(rng.chance(0.5) ? rng.range(0x20, 0x7e) : rng.int(256));
const TAGS = ['b', 'bh', 'h', 'd', 's', 'a', 'c', 'l', 't', 'x', 'i', 'v'] as const;

/** A new value for a tag of a DKIM-Signature (what an attacker or a broken relay might write). */
function tagValue(rng: Rng, tag: string, old: string): string {
  const flip = (v: string) => {
    if (v.length === 0) return 'A';
    const i = rng.int(v.length);
    const c = v[i] === 'A' ? 'B' : 'A';
    return v.slice(0, i) + c + v.slice(i + 1);
  };
  switch (tag) {
    case 'b':
      return rng.pick([flip(old), old.slice(0, rng.int(old.length)), '', `${old}AAAA`, old.replace(/(.{10})/g, '$1\r\n ')]);
    case 'bh':
      return rng.pick([flip(old), '', `${old.slice(0, 10)} ${old.slice(10)}`]);
    case 'h':
      return rng.pick([old.replace(/from:?/i, ''), `${old}:Subject`, old.split(':').reverse().join(':'), old.toUpperCase(), old.replace(/:/g, ' : '), 'Subject', old.replace(/:/g, ':\r\n\t')]);
    case 'd':
      return rng.pick(['example.com', 'EXAMPLE.ORG', 'sub.example.org', '', 'example.org.', 'exa(mple.org']);
    case 's':
      return rng.pick(['r1', 'r2', 'e1', 'w1', 'nosuch', '', 'R1']);
    case 'a':
      return rng.pick(['rsa-sha1', 'ed25519-sha256', 'rsa-sha256', 'rsa-sha512', 'RSA-SHA256', 'dsa-sha256', 'ed25519-sha1', '']);
    case 'c':
      return rng.pick(['simple/simple', 'relaxed', 'relaxed/relaxed', 'simple', 'relaxed/bogus', 'bogus/relaxed', '', 'relaxed/relaxed/x']);
    case 'l':
      return rng.pick(['0', '1', '5', String(rng.int(500)), '99999999', 'abc', '']);
    case 't':
      return rng.pick([String(Math.floor(NOW.getTime() / 1000) + 86_400), '0', 'abc', '']);
    case 'x':
      return rng.pick([String(Math.floor(NOW.getTime() / 1000) - 60), String(Math.floor(NOW.getTime() / 1000) + 86_400), '1', 'abc', '']);
    case 'i':
      return rng.pick(['@example.org', '@sub.example.org', 'user@example.org', '@evil.example', '@notexample.org']);
    default:
      return rng.pick(['1', '2', '']);
  }
}

/** Corrupts one tag of one DKIM-Signature field: its value changed, the tag removed, repeated, added, or its name's case changed. */
function corruptTag(rng: Rng, text: string, f: { start: number; end: number }): { text: string; what: string } {
  const fieldText = text.slice(f.start, f.end);
  const tag = rng.pick(TAGS);
  const re = new RegExp(`([:;][ \\t\\r\\n]*)(${tag})([ \\t\\r\\n]*=[ \\t\\r\\n]*)([^;]*?)([ \\t\\r\\n]*)(?=;|$)`);
  const m = re.exec(fieldText.replace(/(\r?\n)$/, ''));
  const how = rng.int(6);
  let out: string;
  let what: string;
  if (m === null || how === 5) {
    // Absent (or chosen): a tag added before the first one.
    const colon = fieldText.indexOf(':');
    out = `${fieldText.slice(0, colon + 1)} ${tag}=${tagValue(rng, tag, '')};${fieldText.slice(colon + 1)}`;
    what = `add ${tag}=`;
  } else {
    const [all, pre, name, eq, value, post] = m as unknown as [string, string, string, string, string, string];
    const at = m.index;
    const end = at + all.length;
    if (how === 0) {
      out = `${fieldText.slice(0, at)}${pre}${name}${eq}${tagValue(rng, tag, value)}${post}${fieldText.slice(end)}`;
      what = `change ${tag}=`;
    } else if (how === 1) {
      out = `${fieldText.slice(0, at + 1)}${fieldText.slice(end + 1)}`;
      what = `remove ${tag}=`;
    } else if (how === 2) {
      out = `${fieldText.slice(0, end)}; ${name}=${value}${fieldText.slice(end)}`;
      what = `repeat ${tag}=`;
    } else if (how === 3) {
      out = `${fieldText.slice(0, at)}${pre}${name.toUpperCase()}${eq}${value}${post}${fieldText.slice(end)}`;
      what = `upper-case ${tag}`;
    } else {
      out = `${fieldText.slice(0, at)}${pre}${name}${eq}${value.replace(/(.{1,7})$/, rng.pick([' $1', '\r\n $1', '\t$1']))}${post}${fieldText.slice(end)}`;
      what = `FWS inside ${tag}=`;
    }
  }
  return { text: text.slice(0, f.start) + out + text.slice(f.end), what };
}

const SIGNED_NAMES = new Set(['from', 'to', 'cc', 'subject', 'date', 'message-id', 'reply-to', 'list-id', 'list-unsubscribe', 'mime-version', 'content-type']);

/** One random mutation of a message; returns the new text and what was done, for the failure message. */
function mutate(rng: Rng, text: string): { text: string; what: string } {
  const { bodyStart, fields } = layout(text);
  const inBody = () => bodyStart + rng.int(text.length - bodyStart + 1);
  const inHeader = () => rng.int(Math.max(1, bodyStart));
  const anywhere = () => (rng.chance(0.5) ? inBody() : inHeader());
  const sigs = fields.filter((f) => f.name === 'dkim-signature');
  const signed = fields.filter((f) => SIGNED_NAMES.has(f.name));
  switch (rng.int(14)) {
    case 0: {
      const at = anywhere();
      if (at >= text.length) return { text: text + randomOctet(rng), what: 'append an octet' };
      return { text: text.slice(0, at) + randomOctet(rng) + text.slice(at + 1), what: `flip the octet at ${at}` };
    }
    case 1: {
      const at = anywhere();
      return { text: insertAt(text, at, rng.pick([' ', '\t', 'x', '\u00a0', '\x0b', '\x0c', randomOctet(rng)])), what: `insert an octet at ${at}` };
    }
    case 2: {
      const at = anywhere();
      return { text: text.slice(0, at) + text.slice(at + 1), what: `delete the octet at ${at}` };
    }
    case 3: {
      const f = rng.pick(signed.length > 0 ? signed : fields);
      if (f === undefined) return { text, what: 'nothing' };
      const colon = text.indexOf(':', f.start);
      const spots = [];
      for (let i = colon; i < f.end; i++) if (text[i] === ' ' || text[i] === '\t' || text[i] === '\r' || text[i] === '\n' || text[i] === ':') spots.push(i);
      const at = rng.pick(spots.length > 0 ? spots : [f.start]);
      return { text: insertAt(text, at, rng.pick([' ', '\t', '  '])), what: `whitespace in the ${f.name} field at ${at}` };
    }
    case 4: {
      const f = rng.pick(fields);
      if (f === undefined) return { text, what: 'nothing' };
      const colon = text.indexOf(':', f.start);
      const end = colon < 0 || colon > f.end ? f.start : colon;
      const name = text.slice(f.start, end);
      const changed = [...name].map((c) => (rng.chance(0.5) ? c.toUpperCase() : c.toLowerCase())).join('');
      return { text: text.slice(0, f.start) + changed + text.slice(end), what: `case of the ${f.name} name` };
    }
    case 5: {
      const at = rng.chance(0.5) ? 0 : fields.length > 0 ? (fields[fields.length - 1] as { end: number }).end : 0;
      const eol = text.includes('\r\n') ? '\r\n' : '\n';
      return { text: insertAt(text, at, `From: Mallory <mallory@${rng.pick(['evil.example', DOMAIN])}>${eol}`), what: `a second From: at ${at}` };
    }
    case 6: {
      if (fields.length < 2) return { text, what: 'nothing' };
      const i = rng.int(fields.length - 1);
      const a = fields[i] as { start: number; end: number };
      const b = fields[i + 1] as { start: number; end: number };
      const fa = text.slice(a.start, a.end);
      const fb = text.slice(b.start, b.end);
      if (!/\n$/.test(fa) || !/\n$/.test(fb)) return { text, what: 'nothing' };
      return { text: text.slice(0, a.start) + fb + fa + text.slice(b.end), what: `swap fields ${i} and ${i + 1}` };
    }
    case 7: {
      const at = rng.int(text.length + 1);
      return { text: text.slice(0, at), what: `truncate at ${at}` };
    }
    case 8: {
      const at = rng.chance(0.2) ? text.length : anywhere(); // the very end too: a body's last line is read apart
      const what = rng.pick(['\0', '\r', '\n', '\r\r\n']);
      return { text: insertAt(text, at, what), what: `insert ${JSON.stringify(what)} at ${at}` };
    }
    case 9: {
      const f = rng.pick(sigs);
      if (f === undefined) return { text, what: 'nothing' };
      let copy = text.slice(f.start, f.end);
      if (!copy.endsWith('\n')) copy += '\n';
      const at = rng.chance(0.5) ? 0 : rng.pick(fields).start;
      return { text: insertAt(text, at, copy), what: `duplicate a DKIM-Signature at ${at}` };
    }
    default: {
      const f = rng.pick(sigs);
      if (f === undefined) return { text, what: 'nothing' };
      return corruptTag(rng, text, f);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The reference: RFC 6376 read on the whole text, for every DKIM-Signature field (§6.1), with the checks facteur adds
// (§6.1.1 From: signed and i= within d=, RFC 8301 no rsa-sha1, RFC 8463 k=ed25519).

interface RefField {
  /** The field's lines joined by CRLF, without its last line ending. */
  readonly text: string;
  readonly key: string;
}

interface RefRow {
  readonly result: string;
  /** The step that decided it (for the classes of known differences with mailauth). */
  readonly why: string;
  /** The signature field, then the fields it signs (as far as the reference got), for the classes below. */
  readonly covered: readonly string[];
}

/** Splits at the first empty line; lines end in LF or CRLF (a lone CR is an octet of the line). */
function refSplit(text: string): { fields: RefField[]; body: string; lineStarts: string[] } {
  const fields: { lines: string[] }[] = [];
  const lineStarts: string[] = [];
  let pos = 0;
  let body = '';
  while (pos < text.length) {
    const lf = text.indexOf('\n', pos);
    let line = text.slice(pos, lf < 0 ? text.length : lf);
    if (lf >= 0 && line.endsWith('\r')) line = line.slice(0, -1);
    pos = lf < 0 ? text.length : lf + 1;
    if (line === '' && lf >= 0) {
      body = text.slice(pos);
      break;
    }
    lineStarts.push(line.slice(0, 1));
    const last = fields[fields.length - 1];
    if ((line[0] === ' ' || line[0] === '\t') && last !== undefined) last.lines.push(line);
    else fields.push({ lines: [line] });
  }
  return {
    fields: fields.map(({ lines }) => {
      const first = lines[0] as string;
      const colon = first.indexOf(':');
      return { text: lines.join('\r\n'), key: (colon < 0 ? first : first.slice(0, colon)).trim().toLowerCase() };
    }),
    body,
    lineStarts,
  };
}

/** §3.2 tag-list: specs split at ";", each "name = value"; a repeated name, a spec without "=", a bad name: invalid. */
function refTags(value: string): Map<string, string> | null {
  const tags = new Map<string, string>();
  const specs = value.split(';');
  for (let i = 0; i < specs.length; i++) {
    const spec = specs[i] as string;
    if (spec.replace(/[ \t\r\n]/g, '') === '' && i === specs.length - 1) break;
    const eq = spec.indexOf('=');
    if (eq < 0) return null;
    const name = spec.slice(0, eq).replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, '');
    if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(name) || tags.has(name)) return null;
    let v = spec.slice(eq + 1).replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, '');
    // b=, bh= (base64, §3.5) and h= (a colon list with FWS allowed): their folding whitespace is not part of the value.
    if (name === 'b' || name === 'bh' || name === 'h' || name === 'z') v = v.replace(/[ \t\r\n]+/g, '');
    tags.set(name, v);
  }
  return tags;
}

/** §3.4.4 and §3.4.3 on the whole body; lines end in CRLF or LF (the two endings facteur takes), a lone CR is text. */
function refBody(canon: string, body: string): string {
  let lines = body.split(/\r?\n/);
  if (lines[lines.length - 1] === '') lines.pop();
  if (canon === 'relaxed') lines = lines.map((l) => l.replace(/[ \t]+/g, ' ').replace(/ $/, ''));
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  if (lines.length === 0) return canon === 'simple' ? '\r\n' : '';
  return `${lines.join('\r\n')}\r\n`;
}

/** §3.4.2 relaxed: name lower-cased, CRLF unfolded (only CRLF: a lone CR is an octet), WSP runs one SP, WSP at the ends gone. */
function refRelaxed(text: string): string {
  const colon = text.indexOf(':');
  const name = colon < 0 ? '' : `${text.slice(0, colon).replace(/[A-Z]/g, (c) => c.toLowerCase()).replace(/[ \t]+$/, '')}:`;
  const value = (colon < 0 ? text : text.slice(colon + 1)).replace(/\r\n/g, '').replace(/[ \t]+/g, ' ').replace(/^ /, '').replace(/ $/, '');
  return name + value;
}

/** §3.7: the signature field with the value of b= emptied (the field's canonical form, tags found by §3.2). */
function refWithoutB(canonical: string): string {
  const colon = canonical.indexOf(':');
  const specs = canonical.slice(colon + 1).split(';');
  const i = specs.findIndex((s) => s.includes('=') && s.slice(0, s.indexOf('=')).replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, '') === 'b');
  if (i >= 0) specs[i] = (specs[i] as string).slice(0, (specs[i] as string).indexOf('=') + 1);
  return canonical.slice(0, colon + 1) + specs.join(';');
}

const REQUIRED = ['v', 'a', 'b', 'bh', 'd', 'h', 's'];

function referenceVerify(text: string, world: World): RefRow[] {
  const { fields, body } = refSplit(text);
  const rows: RefRow[] = [];
  for (const sigField of fields.filter((f) => f.key === 'dkim-signature')) {
    const covered: string[] = [sigField.text];
    const row = (result: string, why: string): RefRow => ({ result, why, covered: [...covered] });
    const tags = refTags(sigField.text.slice(sigField.text.indexOf(':') + 1));
    if (tags === null || REQUIRED.some((t) => !tags.has(t)) || tags.get('v') !== '1') {
      rows.push(row('permerror', 'malformed'));
      continue;
    }
    const tag = (t: string) => tags.get(t) ?? '';
    // a= and c= are read whatever their case and with WSP around "-" and "/", as both verifiers do: these values are
    // signed, so a signature whose a= or c= was changed so fails anyway (fail rather than permerror).
    const [signAlgo = '', hashAlgo = ''] = tag('a').toLowerCase().split('-').map((p) => p.trim());
    const [headerCanon = 'simple', bodyCanon = 'simple'] = (tags.get('c') ?? 'simple/simple').toLowerCase().split('/').map((c) => c.trim() || 'simple');
    const known = ['rsa', 'ed25519'].includes(signAlgo) && ['sha256', 'sha1'].includes(hashAlgo) && ['simple', 'relaxed'].includes(headerCanon) && ['simple', 'relaxed'].includes(bodyCanon);
    if (!known || tag('d') === '' || tag('s') === '') {
      rows.push(row('permerror', 'malformed'));
      continue;
    }
    const names = tag('h').toLowerCase().split(':').map((n) => n.trim()).filter((n) => n !== '');
    if (!names.includes('from')) {
      rows.push(row('permerror', 'from-not-signed'));
      continue;
    }
    const identity = tag('i').toLowerCase();
    const d = tag('d').toLowerCase();
    if (identity !== '') {
      const iDomain = identity.slice(identity.lastIndexOf('@') + 1);
      if (iDomain !== d && !iDomain.endsWith(`.${d}`)) {
        rows.push(row('permerror', 'i-outside-d'));
        continue;
      }
    }
    if (hashAlgo === 'sha1') {
      rows.push(row('permerror', 'sha1'));
      continue;
    }
    const l = tags.get('l');
    let canonicalBody = refBody(bodyCanon, body);
    if (l !== undefined && /^\d+$/.test(l)) canonicalBody = canonicalBody.slice(0, Number(l));
    if (createHash('sha256').update(canonicalBody, 'latin1').digest('base64') !== tag('bh')) {
      rows.push(row('fail', 'body-hash'));
      continue;
    }
    const key = world.verdict(`${tag('s')}._domainkey.${tag('d')}`);
    if (!key.ok) {
      rows.push(row(key.result, `key: ${key.why}`));
      continue;
    }
    if (key.type !== signAlgo) {
      rows.push(row('permerror', 'key-type'));
      continue;
    }
    if (key.hashes !== null && !key.hashes.includes(hashAlgo)) {
      rows.push(row('permerror', 'key-hashes'));
      continue;
    }
    // §5.4.2: each name takes the lowest field of that name not taken yet; a name left over selects nothing.
    const taken = new Set<RefField>();
    let canonical = '';
    for (const name of names) {
      const f = [...fields].reverse().find((x) => x.key === name && !taken.has(x));
      if (f === undefined) continue;
      taken.add(f);
      covered.push(f.text);
      canonical += `${headerCanon === 'relaxed' ? refRelaxed(f.text) : f.text}\r\n`;
    }
    canonical += refWithoutB(headerCanon === 'relaxed' ? refRelaxed(sigField.text) : sigField.text);
    const data = bytes(canonical);
    let good: boolean;
    try {
      good = signAlgo === 'rsa' ? cryptoVerify('sha256', data, key.key, Buffer.from(tag('b'), 'base64')) : cryptoVerify(null, createHash('sha256').update(data).digest(), key.key, Buffer.from(tag('b'), 'base64'));
    } catch {
      good = false;
    }
    if (!good) {
      rows.push(row('fail', 'signature'));
      continue;
    }
    const seconds = (v: string | undefined) => (v !== undefined && /^\d+$/.test(v) ? Number(v) * 1000 : null);
    const t = seconds(tags.get('t'));
    const x = seconds(tags.get('x'));
    if (x !== null && t !== null && x < t) rows.push(row('neutral', 'x-before-t'));
    else if (x !== null && x < NOW.getTime()) rows.push(row('neutral', 'expired'));
    else rows.push(row('pass', 'pass'));
  }
  return rows.length > 0 ? rows : [{ result: 'none', why: 'unsigned', covered: [] }];
}

// ---------------------------------------------------------------------------------------------------------------
// The two verifiers under comparison

const sharedKeys = new DkimKeyCache();

async function facteurVerify(rng: Rng, text: string, world: World): Promise<{ result: string; comment: string }[]> {
  const check = new DkimCheck(world.resolve, sharedKeys, () => {}, NOW);
  for (const c of chunksAt(bytes(text), rng.cuts(text.length, 6))) check.write(c);
  const out = await check.finish();
  return out.results.map((r) => ({ result: r.status.result, comment: typeof r.status.comment === 'string' ? r.status.comment : '' }));
}

type MailauthRow = { skipped: true } | { skipped: false; row: DkimResultRow };

/** mailauth's DkimVerifier as dkimVerify drives it, plus which DKIM-Signature fields it left out of its results (skip). */
async function mailauthVerify(text: string, world: World): Promise<MailauthRow[] | Error> {
  const v = new DkimVerifier({ resolver: world.resolve, curTime: NOW });
  const stream = v as unknown as Writable; // mailauth's DkimVerifier is a Writable (its MessageParser)
  // Its verifier prints "TOTAL … EXPECTING …" with console.log for every l= that is not the body's length.
  const log = console.log;
  console.log = () => {};
  try {
    await new Promise<void>((resolve, reject) => {
      stream.once('finish', resolve);
      stream.once('error', reject);
      stream.end(bytes(text));
    });
  } catch (err) {
    return err as Error;
  } finally {
    console.log = log;
  }
  const sigs = v.signatureHeaders.filter((s) => s.type === 'DKIM');
  if (sigs.length === 0) return v.results.map((row) => ({ skipped: false, row }));
  let k = 0;
  return sigs.map((s) => (s.skip === true ? { skipped: true } : { skipped: false, row: v.results[k++] as DkimResultRow }));
}

/**
 * mailauth's result in facteur's terms. The mapping, row by row:
 * - a signature mailauth skips (unknown algorithm or canonicalisation, no d= or s=) is absent from its results;
 *   facteur reports it as permerror (RFC 8601 §2.7.1: "could not be verified due to some error that is unrecoverable");
 * - mailauth says neutral for a body hash that does not match; RFC 6376 §6.1.3 calls it PERMFAIL, "fail" in RFC 8601;
 * - mailauth says neutral for a key record that is missing, of an unknown version or type, or unreadable, and for a
 *   signature crypto.verify() throws on; RFC 6376 §6.1.2 calls these PERMFAIL (a verification that cannot be done):
 *   permerror in RFC 8601 terms, as facteur says;
 * - neutral for an expired signature, or one whose x= is before its t=, is the same in both.
 */
function mapped(m: MailauthRow): string {
  if (m.skipped) return 'permerror';
  const { result, comment } = m.row.status;
  if (result !== 'neutral') return result;
  if (comment === 'body hash did not verify') return 'fail';
  if (comment === 'expired' || comment === 'invalid expiration') return 'neutral';
  return 'permerror';
}

/**
 * Where mailauth and facteur differ by design: facteur applies checks mailauth leaves out. In these cases facteur's
 * result is the reference's (asserted for every case), and mailauth's is not compared.
 * - "malformed": RFC 6376 §3.2 (a repeated tag, a spec without "=", tag names are case-sensitive) and §6.1.1 (the
 *   required tags, v=1): mailauth's tag parser lower-cases names, keeps the last of a repeated tag, and checks no v=;
 * - "from-not-signed" and "i-outside-d": §6.1.1, not checked by mailauth;
 * - "sha1": RFC 8301 §3.1 (verifiers must not consider rsa-sha1 signatures valid); mailauth verifies them;
 * - "key-hashes": §3.6.1 h= of the key record, which mailauth ignores;
 * - "key-type": §6.1.2 step 6 (a key unsuitable for a=): mailauth lets crypto.verify() decide, which may say false;
 * - "not an RSA key": RFC 6376 §3.6.1 says k= defaults to rsa; mailauth guesses Ed25519 from a 32-octet p=.
 */
const BY_DESIGN = new Set(['malformed', 'from-not-signed', 'i-outside-d', 'sha1', 'key-hashes', 'key-type', 'key: not an RSA key (k= defaults to rsa)']);

/**
 * mailauth's own departures from the RFCs, found by these tests; in these cases the reference (RFC 6376 read on the
 * whole text) decides, and the difference is counted and shown in the test's diagnostics. Each is told from the input.
 */
const MAILAUTH_DEPARTURES: { name: string; applies: (text: string, ref: RefRow) => boolean }[] = [
  {
    // tools.js formatRelaxedLine folds runs of JS's \s into one SP and trims them: \s also matches VT, FF and 0xA0
    // (NBSP in latin1, and the second octet of UTF-8 "à", "Š", "Ġ"…), where RFC 6376 §3.4.2 compresses WSP only (SP
    // and HTAB, RFC 5234). A signed field holding "voilà" in raw UTF-8 is so canonicalised wrongly: mailauth's
    // signatures of it do not verify elsewhere, and it fails good signatures of it.
    name: 'mailauth: \\s is not WSP (VT, FF, 0xA0 in a signed field)',
    applies: (_text, ref) => ref.covered.some((f) => /[\x0b\x0c\xa0]/.test(f)),
  },
  {
    // tools.js parseHeaders takes a line starting with any \s (VT, FF, 0xA0, a lone CR) as folded into the field above,
    // and formatRelaxedLine turns a lone CR into SP; RFC 5322 §2.2.3 folds only before WSP, and a lone CR is an
    // octet of the value (RFC 6376 §3.4.2 removes CRLF only).
    name: 'mailauth: a lone CR in the header, or a line starting with VT, FF, 0xA0 or CR',
    applies: (text, ref) => ref.covered.some((f) => /\r(?!\n)/.test(f)) || /(^|\n)([\x0b\x0c\xa0]|\r(?!\n))/.test(text.slice(0, headerEnd(text))),
  },
  {
    // body/relaxed.js and body/simple.js hold back the CR and LF octets that end what they were given, as line
    // endings: at the end of the body, "x\r" (or "x\r\r\n") hashes as "x\r\n". §3.4.3/§3.4.4: a CR not followed by
    // LF is text ("x\r\r\n").
    name: 'mailauth: a lone CR at the end of the body taken as a line ending',
    applies: (text) => /\r(?!\n)[\r\n]*$/.test(text.slice(headerEnd(text))),
  },
  {
    // message-parser.js ensureLinebreaks turns a lone LF into CRLF unless the last octet other than LF was a CR: a LF
    // right after a CRLF stays alone ("a\r\n\nb" reaches the hashers as is), and the simple body hash then hashes a
    // bare LF where facteur, taking LF and CRLF alike as line endings, hashes a CRLF.
    name: 'mailauth: a LF right after a CRLF is not made a CRLF',
    applies: (text) => /\r\n\n/.test(text),
  },
  {
    // body/relaxed.js hashes a last line that has no line ending as it is when it needs no other change: "x " (or
    // " ") at the very end of the body hashes as "x \r\n" (or " \r\n"), where §3.4.4 removes the WSP at the end of
    // the line (and then ignores the empty line).
    name: 'mailauth: WSP at the end of a last line without line ending (relaxed body)',
    applies: (text) => /[ \t]$/.test(text.slice(headerEnd(text))),
  },
  {
    // parse-dkim-headers.js reads quotes, parentheses (comments) and backslashes in a DKIM-Signature and lower-cases
    // tag names: none of it is in §3.2's tag-list, where such octets are plain value octets.
    name: "mailauth: its tag parser reads quotes, comments and escapes, and lower-cases tag names",
    applies: (_text, ref) => /["'()\\]/.test(ref.covered[0] ?? '') || /(^|;)[ \t\r\n]*[A-Z]/.test((ref.covered[0] ?? '').replace(/^[^:]*:/, '')),
  },
];

/** The names of the departures that apply to a message (and any of the signature rows given), or null for none. */
function departuresFor(text: string, ...rows: RefRow[]): string | null {
  const names = MAILAUTH_DEPARTURES.filter((d) => rows.some((r) => d.applies(text, r))).map((d) => d.name);
  return names.length === 0 ? null : names.join(' + ');
}

function headerEnd(text: string): number {
  const m = /\r?\n\r?\n/.exec(text);
  return m === null ? text.length : m.index + m[0].length;
}

// ---------------------------------------------------------------------------------------------------------------
// The generated cases

interface Case {
  readonly seed: number;
  readonly text: string;
  /** The same message with a body separator, for mailauth (an absent body and an empty one are the same, RFC 5322 §3.5). */
  readonly forMailauth: string;
  readonly world: World;
  readonly steps: string[];
}

async function makeCase(seed: number): Promise<Case> {
  const rng = new Rng(seed);
  const shape = message(rng);
  const world = new World(rng);
  const steps: string[] = [];
  let sigs = '';
  const who = rng.int(8);
  if (who <= 2) {
    sigs = await facteurSign(rng, shape.text, who === 2 && rng.chance(0.3) ? facteurSigners.rsa2048 : facteurSigners.both);
    if (shape.text.includes('\r\n') && rng.chance(0.5)) sigs = sigs.replace(/\n/g, '\r\n');
    steps.push('signed by facteur');
  } else if (who <= 6) {
    const o = mailauthOptions(rng, shape.text.length - headerEnd(shape.text));
    sigs = await mailauthSign(shape.withSeparator, o);
    if (!shape.text.includes('\r\n') && rng.chance(0.5)) sigs = sigs.replace(/\r\n/g, '\n');
    steps.push(`signed by mailauth: ${o.key.selector} ${o.algorithm} c=${o.canonicalization}${o.maxBodyLength !== undefined ? ` l=${o.maxBodyLength}` : ''}${o.headerList !== undefined ? ` h=${o.headerList.join(':')}` : ''}${o.expires !== undefined ? ` x=${o.expires.toISOString()}` : ''}`);
    if (rng.chance(0.2)) {
      sigs += await facteurSign(rng, shape.text);
      steps.push('and by facteur');
    }
  } else {
    steps.push('unsigned');
  }
  let text = sigs + shape.text;
  const n = rng.chance(0.35) ? 0 : rng.range(1, 3);
  for (let i = 0; i < n; i++) {
    const m = mutate(rng, text);
    text = m.text;
    steps.push(m.what);
  }
  const hasSeparator = /(^|\n)\r?\n/.test(text);
  const forMailauth = hasSeparator ? text : `${text}${text.endsWith('\n') ? '' : '\r\n'}\r\n`;
  steps.push(`key records: ${[...world.byName.entries()].filter(([name]) => name.includes('._domainkey.')).map(([name, s]) => `${name.split('.')[0]}=${s.variant}`).join(' ')}`);
  return { seed, text, forMailauth, world, steps };
}

const CASES = 2500;
let casesMade: Promise<Case[]> | null = null;
/** The cases of tests 1 and 3, made once. */
function cases(): Promise<Case[]> {
  casesMade ??= Promise.all(seeds(10_000, CASES).map(makeCase));
  return casesMade;
}

const describeCase = (c: Case) => `seed ${c.seed}: ${c.steps.join('; ')}\nmessage: ${show(c.text)}`;

describe('DKIM: facteur against mailauth and RFC 6376, on generated and mutated messages', () => {
  test(`verifier: each signature's result equals the RFC reading and mailauth's (${CASES} messages)`, async (t) => {
    const departures = new Map<string, { count: number; example: string }>();
    let compared = 0;
    let byDesign = 0;
    const tally = new Map<string, number>();
    const stillPass = new Map<string, number>();
    for (const c of await cases()) {
      const rng = new Rng(c.seed ^ 0x5eed);
      const ours = await facteurVerify(rng, c.text, c.world);
      const ref = referenceVerify(c.text, c.world);
      const theirs = await mailauthVerify(c.forMailauth, c.world);
      assert.ok(!(theirs instanceof Error), `${describeCase(c)}\nmailauth threw: ${(theirs as Error).message}`);
      const oursResults = ours.map((r) => r.result);
      assert.deepEqual(oursResults, ref.map((r) => r.result), `facteur differs from the RFC reading\n${describeCase(c)}\nfacteur: ${JSON.stringify(ours)}\nreference: ${JSON.stringify(ref.map((r) => `${r.result} (${r.why})`))}\nmailauth: ${JSON.stringify(theirs.map((m) => (m.skipped ? 'skipped' : `${m.row.status.result} (${m.row.status.comment ?? ''})`)))}`);
      for (const r of ref) tally.set(r.result, (tally.get(r.result) ?? 0) + 1);
      // A message with one signature and one mutation that still passes: the reference agrees, so it is a change the
      // RFC lets through (WSP and name case under relaxed, an unsigned field, a field added above the one h= signs,
      // the body past l=…). Shown, for the reader to judge.
      const mutations = c.steps.filter((x) => !/^(signed|and by|key records|unsigned|nothing)/.test(x));
      if (mutations.length === 1 && ref.length === 1 && oursResults[0] === 'pass') {
        const kind = (mutations[0] as string).replace(/ at \d+| \d+ and \d+/g, '');
        stillPass.set(kind, (stillPass.get(kind) ?? 0) + 1);
      }
      const theirsMapped = theirs.map(mapped);
      for (let i = 0; i < ref.length; i++) {
        const r = ref[i] as RefRow;
        if (BY_DESIGN.has(r.why)) {
          byDesign++;
          continue;
        }
        if (theirs.length === ref.length && theirsMapped[i] === oursResults[i]) {
          compared++;
          continue;
        }
        const known = departuresFor(c.text, r);
        const detail = `${describeCase(c)}\nsignature ${i}: facteur ${JSON.stringify(ours[i])}, reference ${r.result} (${r.why}), mailauth ${JSON.stringify(theirs.map((m) => (m.skipped ? 'skipped' : `${m.row.status.result} (${m.row.status.comment ?? ''})`)))}`;
        assert.ok(known !== null, `facteur and mailauth differ, and no known departure of mailauth explains it\n${detail}`);
        const seen = departures.get(known) ?? { count: 0, example: detail };
        seen.count++;
        departures.set(known, seen);
        break; // the rows after a differing count are not aligned: one difference per message is counted
      }
    }
    t.diagnostic(`results: ${JSON.stringify(Object.fromEntries(tally))}; equal to mailauth's: ${compared}; by design not compared: ${byDesign}`);
    t.diagnostic(`single mutations that a single signature survives: ${JSON.stringify(Object.fromEntries([...stillPass].sort((a, b) => b[1] - a[1])))}`);
    for (const [name, d] of departures) t.diagnostic(`${d.count} × ${name}; e.g. ${ONE_SEED !== null ? d.example : d.example.slice(0, 900)}`);
    // The generator must keep reaching every outcome, or the comparison would prove less than it claims.
    if (ONE_SEED === null) for (const r of ['pass', 'fail', 'permerror', 'temperror', 'neutral', 'policy', 'none']) assert.ok((tally.get(r) ?? 0) > 0, `no case gave ${r}`);
  });

  const SIGNER_CASES = 500;
  test(`signer: facteur's signatures verify with mailauth and its bh= is mailauth's, on every shape, cut anywhere (${SIGNER_CASES} messages)`, async (t) => {
    const world = new World(null);
    const departures = new Map<string, number>();
    const noRef: RefRow = { result: 'pass', why: 'pass', covered: [] };
    for (const seed of seeds(20_000, SIGNER_CASES)) {
      const rng = new Rng(seed);
      const shape = message(rng);
      const fields = await facteurSign(rng, shape.text, rng.chance(0.2) ? facteurSigners.rsa2048 : facteurSigners.both);
      const signedText = fields + shape.text;
      const context = `seed ${seed}\nmessage: ${show(signedText)}`;
      const ref = referenceVerify(signedText, world);
      const passes = ref.map(() => 'pass');
      assert.deepEqual(ref.map((r) => r.result), passes, `the RFC reading of facteur's signatures: ${JSON.stringify(ref.map((r) => r.why))}\n${context}`);
      assert.deepEqual((await facteurVerify(rng, signedText, world)).map((r) => r.result), passes, `facteur's verifier\n${context}`);
      const theirs = await mailauthVerify(fields + shape.withSeparator, world);
      assert.ok(!(theirs instanceof Error), `mailauth threw: ${String(theirs)}\n${context}`);
      if (theirs.length !== ref.length || theirs.some((m) => mapped(m) !== 'pass')) {
        const known = departuresFor(signedText, ...ref);
        const results = theirs.map((m) => (m.skipped ? 'skipped' : `${m.row.status.result} (${m.row.status.comment ?? ''})`));
        assert.ok(known !== null, `mailauth does not verify facteur's signature, and no known departure of mailauth explains it\n${context}\nmailauth: ${JSON.stringify(results)}`);
        departures.set(known, (departures.get(known) ?? 0) + 1);
      }
      // bh=: facteur's (relaxed, as it signs; simple, from BodyHash as its verifier uses it) against the RFC reading and
      // mailauth's signer on the same message.
      const body = shape.text.slice(headerEnd(shape.text));
      const signedBh = /bh=([^;]+);/.exec(fields.replace(/\r?\n[ \t]/g, ''))?.[1];
      const simple = new BodyHash('simple');
      for (const c of chunksAt(bytes(body), rng.cuts(body.length, 8))) simple.update(c);
      for (const [canon, ours] of [['relaxed', signedBh], ['simple', simple.digest()]] as const) {
        assert.equal(ours, createHash('sha256').update(refBody(canon, body), 'latin1').digest('base64'), `${canon} body hash against the RFC reading\n${context}`);
        const theirSig = await mailauthSign(shape.withSeparator, { key: E1, algorithm: E1.algorithm, canonicalization: `relaxed/${canon}`, signTime: NOW });
        const theirBh = /bh=([^;]+);/.exec(theirSig.replace(/\r?\n[ \t]/g, ''))?.[1];
        if (theirBh !== ours) {
          const known = departuresFor(shape.text, noRef);
          assert.ok(known !== null, `facteur's ${canon} bh= differs from mailauth's, and no known departure of mailauth explains it\n${context}\nfacteur ${ours}, mailauth ${theirBh}`);
          departures.set(`${known} (bh=)`, (departures.get(`${known} (bh=)`) ?? 0) + 1);
        }
      }
    }
    for (const [name, count] of departures) t.diagnostic(`${count} × ${name}`);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// InboundChecks: whatever arrives, a verdict and a well-formed header

const HOST = 'mx.example.net';
const VERDICTS = new Set(['accept', 'reject', 'junk']);

async function inbound(rng: Rng, world: World, data: Buffer) {
  const checks = new InboundChecks({ resolve: world.resolve, hostname: HOST, dmarcPolicy: rng.chance(0.8) ? 'enforce' : 'report', random: () => 0 });
  const run = checks.start({
    clientIp: rng.pick(['192.0.2.7', '198.51.100.9', '203.0.113.5', '::ffff:192.0.2.7', '2001:db8::25']),
    helo: rng.pick(['mail.example.org', 'mail.example.net', 'localhost', '[192.0.2.7]', null, `${'x'.repeat(70)}.example`]),
    mailFrom: rng.pick(['alice@example.org', 'bob@example.net', null, 'odd@[192.0.2.1]', `${'l'.repeat(64)}@example.org`]),
  });
  for (const c of randomChunks(rng, data)) run.write(c);
  return run.finish();
}

/** The header InboundChecks gives: its authserv-id first, folded lines only, text without CR, NUL or other controls. */
function assertWellFormed(o: { header: string; verdict: string; error?: Error }, context: string): void {
  assert.equal(o.error, undefined, `a check broke (the verdict would be all temperror): ${o.error?.stack ?? ''}\n${context}`);
  assert.ok(VERDICTS.has(o.verdict), `verdict ${o.verdict}\n${context}`);
  assert.ok(o.header.startsWith(`Authentication-Results: ${HOST};`), `${show(o.header)}\n${context}`);
  assert.ok(o.header.endsWith('\n'), `ends with its line ending\n${context}`);
  assert.equal(Buffer.from(o.header, 'utf8').toString('utf8'), o.header, `well-formed UTF-8 (no lone surrogate)\n${context}`);
  assert.doesNotMatch(o.header, /[\x00-\x08\x0b-\x1f\x7f]/, `no CR, NUL or other control character: ${show(o.header)}\n${context}`);
  const lines = o.header.slice(0, -1).split('\n');
  for (const line of lines.slice(1)) assert.match(line, /^[ \t]\S/, `every line after the first is folded: ${show(line)}\n${context}`);
}

/** Shapes meant to hurt: sizes at the limits, tags and names by the thousand, octets that are not text. */
function hostileShapes(): { name: string; text: string }[] {
  const bodyText = 'x\n';
  const hash = new BodyHash('relaxed');
  hash.update(bytes(bodyText));
  const bh = hash.digest();
  const from = 'From: Alice <alice@example.org>\n';
  // A signature whose body hash is right and whose key (e1) is published: verification reaches the signed fields.
  const sig = (tags: string) => `DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; d=${DOMAIN}; s=e1; bh=${bh}; ${tags}; b=AAAA\n`;
  return [
    { name: 'a header line of 1 MiB (past the 256 KiB limit)', text: `X-Long: ${'a'.repeat(1 << 20)}\n${from}\n${bodyText}` },
    { name: '10,000 header fields', text: `${sig('h=from')}${from}${'X-F: v\n'.repeat(10_000)}\n${bodyText}` },
    { name: 'a DKIM-Signature of 5,000 tags', text: `${sig(`h=from; ${Array.from({ length: 5000 }, (_, i) => `t${i}=v${i}`).join('; ')}`)}${from}\n${bodyText}` },
    { name: 'a DKIM-Signature of 5,000 tags, all the same (invalid)', text: `${sig(`h=from; ${'z=1; '.repeat(5000)}q=dns/txt`)}${from}\n${bodyText}` },
    { name: 'h= of 10,000 names', text: `${sig(`h=${'subject:'.repeat(10_000)}from`)}${from}Subject: s\n\n${bodyText}` },
    // Both fit in the 256 KiB header section: picking the fields must not cost names × fields (seconds).
    { name: 'h= of 50,000 names over 50,000 fields of that name', text: `${sig(`h=${'a:'.repeat(50_000)}from`)}${from}${'a:\n'.repeat(50_000)}\n${bodyText}` },
    { name: 'b= of 1 MiB', text: `DKIM-Signature: v=1; a=rsa-sha256; d=${DOMAIN}; s=r1; h=from; bh=${bh}; b=${'QUFB'.repeat(1 << 18)}\n${from}\n${bodyText}` },
    { name: 'b= of 200 KiB (within the limit)', text: `DKIM-Signature: v=1; a=rsa-sha256; d=${DOMAIN}; s=r1; h=from; bh=${bh}; b=${'QUFB'.repeat(50_000)}\n${from}\n${bodyText}` },
    { name: 'non-UTF-8 octets in From:', text: `From: \xff\xfe\xc3 <al\xe9ce@ex\xe0mple.org>, =?x?Q?\xff?= <b@\xc0.example>\n\n${bodyText}` },
    { name: 'From: with 100 addresses', text: `From: ${Array.from({ length: 100 }, (_, i) => `u${i}@d${i}.example`).join(', ')}\n\n${bodyText}` },
    { name: 'a header section with no body separator', text: `${sig('h=from')}${from}Subject: no body` },
    { name: 'an empty message', text: '' },
    { name: 'only an empty line', text: '\n' },
    { name: 'NUL, lone CR and LF in header fields', text: `${sig('h=from:subject')}From: a\0b@example.org\rX: y\nSubject: \0\r\r\n\tz\n\n${bodyText}` },
    { name: '1,000 DKIM-Signatures, each with its own selector', text: `${Array.from({ length: 1000 }, (_, i) => `DKIM-Signature: v=1; a=rsa-sha256; d=${DOMAIN}; s=s${i}; h=from; bh=${bh}; b=AAAA\n`).join('')}${from}\n${bodyText}` },
    { name: '60 ARC sets, none valid', text: `${Array.from({ length: 60 }, (_, i) => `ARC-Seal: i=${i + 1}; a=rsa-sha256; cv=pass; d=${DOMAIN}; s=r1; b=AAAA\nARC-Message-Signature: i=${i + 1}; a=rsa-sha256; c=relaxed/relaxed; d=${DOMAIN}; s=r1; h=from; bh=${bh}; b=AAAA\nARC-Authentication-Results: i=${i + 1}; ${HOST}; spf=pass\n`).join('')}${from}\n${bodyText}` },
    { name: 'a 2 MiB body line', text: `${sig('h=from')}${from}\n${'y'.repeat(2 << 20)}` },
    { name: 'a display name of 100 KiB', text: `From: "${'n'.repeat(100 * 1024)}" <alice@example.org>\n\n${bodyText}` },
  ];
}

describe('InboundChecks: never a throw, always a verdict and a well-formed Authentication-Results field', () => {
  test(`every generated and mutated message of the verifier test (${CASES}), written in pieces of 1 octet to 70 KiB`, async (t) => {
    const verdicts = new Map<string, number>();
    for (const c of await cases()) {
      const rng = new Rng(c.seed ^ 0x1b0d);
      const o = await inbound(rng, c.world, bytes(c.text));
      assertWellFormed(o, describeCase(c));
      verdicts.set(o.verdict, (verdicts.get(o.verdict) ?? 0) + 1);
    }
    t.diagnostic(`verdicts: ${JSON.stringify(Object.fromEntries(verdicts))}`);
    if (ONE_SEED === null) for (const v of VERDICTS) assert.ok((verdicts.get(v) ?? 0) > 0, `no message was given ${v}`);
  });

  for (const shape of hostileShapes()) {
    test(`hostile: ${shape.name}`, async () => {
      for (const seed of [1, 2]) {
        const rng = new Rng(seed);
        const o = await inbound(rng, new World(null), bytes(shape.text));
        assertWellFormed(o, `${shape.name}, seed ${seed}`);
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------------------------
// AuthResultsFilter against a whole-text reading of RFC 8601 §5

// Ours too: the final dot of a fully qualified name, and an id cut short by a tspecial (malformed, but a reader that
// stops at the tspecial sees ours).
const OUR_IDS = [HOST, 'MX.Example.NET', `"${HOST}"`, '"MX.\\Example.net"', `${HOST} 1`, `${HOST}.`, `${HOST}/evil`, `${HOST},x`, `MX.example.net@x`, `${HOST}=1`];
const OTHER_IDS = [`${HOST}.evil`, `evil.${HOST}`, `${HOST}-evil`, 'mx.example.ne', `${HOST}x`, `x${HOST}`, `${HOST}..`, `"${HOST}.evil"`, 'other.example', 'mx.example.org'];
const CFWS = ['', '', ' ', '  ', '\t', ' (comment) ', ' (nested (c) \\) x) ', '\r\n ', ' (c)\r\n\t', ' (multi\r\n line) '];
const AFTER_ID = [';', ' ;', '(c);', '; spf=pass smtp.mailfrom=a@example.org', '; none', ''];
const AR_NAMES = ['Authentication-Results', 'authentication-results', 'AUTHENTICATION-RESULTS', 'Authentication-Results ', 'Authentication-Results\t'];

function arMessage(rng: Rng): string {
  const eol = rng.pick(['\n', '\r\n']);
  const fields: string[] = [];
  const n = rng.range(1, 12);
  for (let i = 0; i < n; i++) {
    const kind = rng.int(10);
    if (kind <= 4) {
      const id = rng.chance(0.45) ? rng.pick(OUR_IDS) : rng.chance(0.9) ? rng.pick(OTHER_IDS) : '';
      const more = Array.from({ length: rng.int(3) }, () => `${rng.pick([' ', '\t', '  '])}${rng.pick(['dkim=pass header.d=example.org;', 'spf=fail (x; y) smtp.helo=h', `arc=none (${HOST})`])}`);
      fields.push(`${rng.pick(AR_NAMES)}:${rng.pick(CFWS)}${id}${rng.pick(AFTER_ID)}${more.map((m) => eol + m).join('')}`);
    } else if (kind === 5) {
      fields.push(`${rng.pick(['X-Authentication-Results', 'ARC-Authentication-Results', 'Authentication-Results-Original'])}: ${rng.chance(0.5) ? 'i=1; ' : ''}${HOST}; spf=pass`);
    } else if (kind === 6) {
      fields.push(`Subject: ${words(rng, 6)}${eol}\t${words(rng, 3)}`);
    } else {
      fields.push(rng.pick(['From: a@example.org', 'To: b@example.net', `Received: from x by ${HOST};${eol} Sun, 1 Mar 2026 11:59:00 +0000`, 'Date: Sun, 1 Mar 2026 11:58:00 +0000']));
    }
  }
  const header = fields.map((f) => f + eol).join('');
  if (rng.chance(0.1)) return header.slice(0, rng.int(header.length + 1)); // ends inside its header section
  const body = [`Authentication-Results: ${HOST}; dkim=pass`, 'body', '', `Authentication-Results: ${HOST};`].slice(0, rng.int(5)).map((l) => l + eol).join('');
  return `${header}${eol}${body}`;
}

/** The authserv-id of a field's value (RFC 8601 §2.2): after CFWS (comments removed innermost first), a quoted-string or a token. */
function refAuthservId(value: string): string | null {
  let v = value.replace(/^[ \t\r\n]+/, '');
  while (v.startsWith('(')) {
    // The leftmost comment holding no other is inside the leading one, while that one is closed.
    const next = v.replace(/\((?:[^()\\]|\\[\s\S])*\)/, ' ');
    if (next === v) return null; // a comment never closed: no id
    v = next.replace(/^[ \t\r\n]+/, '');
  }
  const quoted = /^"((?:[^"\\]|\\[\s\S])*)"/.exec(v);
  if (quoted !== null) return (quoted[1] as string).replace(/\\([\s\S])/g, '$1').replace(/\r\n/g, '');
  if (v.startsWith('"')) return v.slice(1).replace(/\\([\s\S])/g, '$1').replace(/[\r\n]/g, ''); // never closed: malformed, read to the end
  // An RFC 2045 token: it ends at a tspecial, whitespace (before a version, RFC 8601 §2.2) or a control.
  const token = /^[^()<>@,;:\\"/[\]?=\x00-\x20\x7f]+/.exec(v);
  return token === null ? null : token[0];
}

/** RFC 8601 §5 on the whole text: the header fields claiming our id (or no id at all: malformed) removed, the rest as is. */
function refFilter(text: string): string {
  let out = '';
  let field = '';
  const flush = () => {
    const colon = field.indexOf(':');
    const firstLineEnd = field.indexOf('\n');
    const name = colon < 0 || (firstLineEnd >= 0 && colon > firstLineEnd) || /^[ \t]/.test(field) ? null : field.slice(0, colon).replace(/^[ \t]+|[ \t]+$/g, '').toLowerCase();
    if (name === 'authentication-results') {
      const id = refAuthservId(field.slice(colon + 1).replace(/\r?\n$/, ''));
      // Ours whatever its case, and with the final dot of a fully qualified name.
      if (id === null || id.toLowerCase().replace(/\.$/, '') === HOST) field = '';
    }
    out += field;
    field = '';
  };
  for (let pos = 0; pos < text.length; ) {
    const lf = text.indexOf('\n', pos);
    const end = lf < 0 ? text.length : lf + 1;
    const line = text.slice(pos, end);
    if (line === '\n' || line === '\r\n') {
      flush();
      return out + text.slice(pos);
    }
    if (line[0] !== ' ' && line[0] !== '\t') flush();
    field += line;
    pos = end;
  }
  flush();
  return out;
}

describe('AuthResultsFilter against a whole-text reference, cut anywhere', () => {
  const FILTER_CASES = 1500;
  test(`fields claiming ${HOST} removed, all others kept octet for octet (${FILTER_CASES} messages)`, () => {
    let removed = 0;
    for (const seed of seeds(30_000, FILTER_CASES)) {
      const rng = new Rng(seed);
      const text = arMessage(rng);
      const want = refFilter(text);
      if (want.length < text.length) removed++;
      const data = bytes(text);
      const cuts = rng.chance(0.1) ? Array.from({ length: data.length }, (_, i) => i) : rng.cuts(data.length, 12);
      const filter = new AuthResultsFilter(HOST);
      let got = '';
      for (const c of chunksAt(data, cuts)) got += filter.push(c).toString('latin1');
      got += filter.end().toString('latin1');
      assert.equal(got, want, `seed ${seed}, cut at ${JSON.stringify(cuts.slice(0, 20))}\nmessage: ${show(text)}`);
    }
    if (ONE_SEED === null) assert.ok(removed > FILTER_CASES / 4, `only ${removed} messages had a field removed`);
  });
});
