/** Runs fn over items with at most `limit` in flight; results in input order. The first failure rejects. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (next < items.length && !failed) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!, i);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

/** A counting semaphore: at most `n` holders at once. */
export class Semaphore {
  #free: number;
  readonly #waiters: (() => void)[] = [];
  constructor(n: number) {
    this.#free = n;
  }
  async acquire(): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      return;
    }
    await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }
  release(): void {
    const w = this.#waiters.shift();
    if (w) w();
    else this.#free++;
  }
  async run<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await fn();
    } finally {
      this.release();
    }
  }
}

/**
 * A budget of bytes in flight: `acquire(n)` waits until n more fit under the limit. One request larger than the whole
 * limit is let through when nothing else is held, so it cannot wait forever.
 */
export class ByteBudget {
  readonly #limit: number;
  #used = 0;
  #waiters: (() => void)[] = [];
  constructor(limit: number) {
    this.#limit = limit;
  }
  get used(): number {
    return this.#used;
  }
  async acquire(n: number): Promise<void> {
    while (this.#used > 0 && this.#used + n > this.#limit) await new Promise<void>((resolve) => this.#waiters.push(resolve));
    this.#used += n;
  }
  release(n: number): void {
    this.#used -= n;
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }
}
