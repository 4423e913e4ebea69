// Runs async operations on one resource one after the other, in call order, whatever each one's outcome.

export class Serial {
  #tail: Promise<unknown> = Promise.resolve();

  /** Runs op once every earlier op has settled; a failure is the caller's, never the next op's. */
  run<T>(op: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(op);
    this.#tail = result.catch(() => undefined);
    return result;
  }
}
