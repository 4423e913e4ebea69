// What a server offers, read from its EHLO reply (RFC 5321 §4.1.1.1): one keyword and its parameters per line after the first.
import type { Reply } from '../../mail/reply.js';

export class Capabilities {
  private readonly keywords: ReadonlyMap<string, readonly string[]>;

  private constructor(
    /** False after the HELO fallback: the server speaks plain SMTP and offers no extension. */
    readonly esmtp: boolean,
    keywords: ReadonlyMap<string, readonly string[]>,
  ) {
    this.keywords = keywords;
  }

  /** From a 250 reply to EHLO; the first line is the server's name and greeting, not a keyword. */
  static fromEhlo(r: Reply): Capabilities {
    const keywords = new Map<string, string[]>();
    for (const line of r.lines.slice(1)) {
      const [keyword, ...params] = line.trim().split(/\s+/);
      if (keyword === undefined || keyword === '') continue;
      keywords.set(keyword.toUpperCase(), params);
    }
    return new Capabilities(true, keywords);
  }

  /** After HELO: nothing is offered. */
  static none(): Capabilities {
    return new Capabilities(false, new Map());
  }

  /** The keyword was offered (case-insensitive). */
  has(keyword: string): boolean {
    return this.keywords.has(keyword.toUpperCase());
  }

  /** The parameters of a keyword, or null when it was not offered. */
  params(keyword: string): readonly string[] | null {
    return this.keywords.get(keyword.toUpperCase()) ?? null;
  }

  /** The fixed message size limit of SIZE (RFC 1870 §4), or null when none was declared ("SIZE", "SIZE 0", or no SIZE). */
  get sizeLimit(): number | null {
    const value = this.params('SIZE')?.[0];
    if (value === undefined || !/^\d{1,15}$/.test(value)) return null;
    const n = Number(value);
    return n > 0 ? n : null;
  }

  get pipelining(): boolean {
    return this.has('PIPELINING');
  }

  get starttls(): boolean {
    return this.has('STARTTLS');
  }

  get eightBitMime(): boolean {
    return this.has('8BITMIME');
  }

  get smtputf8(): boolean {
    return this.has('SMTPUTF8');
  }

  /** Keywords as offered, for logs. */
  list(): string[] {
    return [...this.keywords.keys()];
  }
}
