// The header section of an incoming message, held back from the files until the end of DATA, so that the checks'
// verdict can still edit it (a subject rewritten by the spam filter, fields it owns removed); the body is not held.
const LF = 0x0a;

/** At most this much header is held; a larger header section is written as it comes, unedited. */
export const MAX_HELD_HEADER = 256 * 1024;

export class HeaderHold {
  #held: Buffer[] = [];
  #size = 0;
  /** The previous byte was a LF (a line start): a second LF there ends the header section. */
  #atLineStart = true;
  #state: 'holding' | 'done' | 'overflow' = 'holding';

  /** True once more header came than can be held: it was handed back to be written, and cannot be edited. */
  get overflowed(): boolean {
    return this.#state === 'overflow';
  }

  /** Takes a chunk; returns what may be written now (the body, or everything once the hold overflowed). */
  push(chunk: Buffer): Buffer {
    if (this.#state !== 'holding') return chunk;
    const end = this.#endOfHeader(chunk);
    if (end < 0) {
      if (this.#size + chunk.length > MAX_HELD_HEADER) {
        this.#state = 'overflow';
        const all = Buffer.concat([...this.#held, chunk]);
        this.#held = [];
        return all;
      }
      this.#held.push(Buffer.from(chunk));
      this.#size += chunk.length;
      return Buffer.alloc(0);
    }
    this.#held.push(Buffer.from(chunk.subarray(0, end)));
    this.#size += end;
    this.#state = 'done';
    return chunk.subarray(end);
  }

  /** The header section held (its empty line included, if it came), edited: fields named in `remove` are dropped. */
  header(remove: readonly string[] = []): Buffer {
    const all = Buffer.concat(this.#held);
    if (remove.length === 0) return all;
    const names = new Set(remove.map((n) => n.toLowerCase()));
    // A field is its first line and the folded lines after it (RFC 5322 §2.2.3); the empty line stays.
    const lines = all.toString('latin1').split(/(?<=\n)/);
    const kept: string[] = [];
    let dropping = false;
    for (const line of lines) {
      const folded = line.startsWith(' ') || line.startsWith('\t');
      if (!folded) dropping = names.has(line.slice(0, Math.max(0, line.indexOf(':'))).trim().toLowerCase());
      if (!dropping) kept.push(line);
    }
    return Buffer.from(kept.join(''), 'latin1');
  }

  /** Index just after the header section's empty line in `chunk`, or -1 if it does not end there. */
  #endOfHeader(chunk: Buffer): number {
    for (let i = 0; i < chunk.length; i++) {
      const isLf = chunk[i] === LF;
      if (isLf && this.#atLineStart) return i + 1;
      this.#atLineStart = isLf;
      if (!isLf) {
        // Skip to the next LF: the header section ends only at a LF that starts a line.
        const next = chunk.indexOf(LF, i);
        if (next < 0) return -1;
        i = next - 1;
      }
    }
    return -1;
  }
}
