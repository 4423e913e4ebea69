// The dispatcher's timer structure: a binary min-heap of delivery jobs keyed on their due time.

/** A job at a due time; stale once the job was rescheduled or cancelled (its seq is no longer the current one). */
export interface HeapEntry {
  readonly due: number;
  readonly id: string;
  readonly domain: string;
  readonly seq: number;
}

/** A binary min-heap of jobs by due time (then by order of scheduling). */
export class JobHeap {
  readonly #a: HeapEntry[] = [];

  peek(): HeapEntry | null {
    return this.#a[0] ?? null;
  }

  push(job: HeapEntry): void {
    const a = this.#a;
    a.push(job);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(a[i] as HeapEntry, a[parent] as HeapEntry)) break;
      [a[i], a[parent]] = [a[parent] as HeapEntry, a[i] as HeapEntry];
      i = parent;
    }
  }

  pop(): HeapEntry | null {
    const a = this.#a;
    const top = a[0];
    const last = a.pop();
    if (top === undefined || last === undefined) return null;
    if (a.length === 0) return top;
    a[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let min = i;
      if (l < a.length && before(a[l] as HeapEntry, a[min] as HeapEntry)) min = l;
      if (r < a.length && before(a[r] as HeapEntry, a[min] as HeapEntry)) min = r;
      if (min === i) break;
      [a[i], a[min]] = [a[min] as HeapEntry, a[i] as HeapEntry];
      i = min;
    }
    return top;
  }
}

const before = (x: HeapEntry, y: HeapEntry): boolean => x.due < y.due || (x.due === y.due && x.seq < y.seq);
