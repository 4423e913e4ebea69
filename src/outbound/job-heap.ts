// The scheduler's timer structure: a binary min-heap of delivery jobs keyed on their due time.

/** A heap entry; stale once its item's job for that domain was rescheduled or dropped (seq no longer current). */
export interface Job {
  readonly due: number;
  readonly id: string;
  readonly domain: string;
  readonly seq: number;
}

/** A binary min-heap of jobs by due time (then by order of scheduling). */
export class JobHeap {
  readonly #a: Job[] = [];

  peek(): Job | null {
    return this.#a[0] ?? null;
  }

  push(job: Job): void {
    const a = this.#a;
    a.push(job);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(a[i] as Job, a[parent] as Job)) break;
      [a[i], a[parent]] = [a[parent] as Job, a[i] as Job];
      i = parent;
    }
  }

  pop(): Job | null {
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
      if (l < a.length && before(a[l] as Job, a[min] as Job)) min = l;
      if (r < a.length && before(a[r] as Job, a[min] as Job)) min = r;
      if (min === i) break;
      [a[i], a[min]] = [a[min] as Job, a[i] as Job];
      i = min;
    }
    return top;
  }
}

const before = (x: Job, y: Job): boolean => x.due < y.due || (x.due === y.due && x.seq < y.seq);
