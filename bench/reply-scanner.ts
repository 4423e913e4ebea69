// Splits a server's byte stream into SMTP reply lines without making strings: the client's hot path.

/** Called for each line; `last` is true on the final line of a reply ("250 ..." rather than "250-..."). */
export type ReplyLineHandler = (code: number, last: boolean, buf: Buffer, start: number, end: number) => void;

/**
 * Reply lines are "NNN-text" (more follow) or "NNN text" / "NNN" (last) ending in CRLF (RFC 5321 §4.2.1).
 * A line split across reads is kept until its end arrives. A malformed line yields code 0.
 */
export class ReplyScanner {
  private rest: Buffer | null = null;

  constructor(private readonly onLine: ReplyLineHandler) {}

  feed(chunk: Buffer): void {
    let buf = chunk;
    if (this.rest !== null) {
      buf = Buffer.concat([this.rest, chunk]);
      this.rest = null;
    }
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(10, start);
      if (nl < 0) break;
      const end = nl > start && buf[nl - 1] === 13 ? nl - 1 : nl;
      const d0 = buf[start]! - 48;
      const d1 = buf[start + 1]! - 48;
      const d2 = buf[start + 2]! - 48;
      const ok = end - start >= 3 && d0 >= 2 && d0 <= 5 && d1 >= 0 && d1 <= 9 && d2 >= 0 && d2 <= 9;
      const sep = end - start > 3 ? buf[start + 3] : 32;
      this.onLine(ok ? d0 * 100 + d1 * 10 + d2 : 0, !ok || sep !== 45, buf, start, end);
      start = nl + 1;
    }
    if (start < buf.length) this.rest = Buffer.from(buf.subarray(start));
  }
}
