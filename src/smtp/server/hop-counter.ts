// Counts the Received headers of a message as it streams by, to stop mail loops (RFC 5321 §6.3).

const RECEIVED = Buffer.from('received:');
const LF = 0x0a;

/** More Received headers than this and the message is looping (Postfix's hopcount_limit is 50; §6.3 suggests 100). */
export const MAX_HOPS = 100;

/**
 * Fed the message chunks (LF line endings); looks only at the header section, up to its first empty line,
 * so the body costs nothing. Keeps at most a few bytes of a line start between chunks.
 */
export class HopCounter {
  count = 0;
  private inHeaders = true;
  private atLineStart = true;
  /** The first bytes of the current line when it straddles two chunks. */
  private prefix = Buffer.alloc(0);

  feed(chunk: Buffer): void {
    let pos = 0;
    while (this.inHeaders && pos < chunk.length) {
      if (this.atLineStart || this.prefix.length > 0) {
        const end = chunk.indexOf(LF, pos);
        const lineEnd = end === -1 ? chunk.length : end;
        const head = Buffer.concat([this.prefix, chunk.subarray(pos, Math.min(lineEnd, pos + RECEIVED.length))]);
        if (end === -1 && head.length < RECEIVED.length) {
          this.prefix = head; // the line start continues in the next chunk
          this.atLineStart = false;
          return;
        }
        this.prefix = Buffer.alloc(0);
        this.atLineStart = false;
        if (head.length === 0 && end === pos) {
          this.inHeaders = false; // the empty line that ends the header section
          return;
        }
        if (head.length >= RECEIVED.length && head.subarray(0, RECEIVED.length).toString('latin1').toLowerCase() === 'received:') this.count += 1;
        if (end === -1) return;
        pos = end + 1;
        this.atLineStart = true;
      } else {
        const end = chunk.indexOf(LF, pos);
        if (end === -1) return;
        pos = end + 1;
        this.atLineStart = true;
      }
    }
  }

  get looping(): boolean {
    return this.count > MAX_HOPS;
  }
}
