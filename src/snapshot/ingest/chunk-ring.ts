/**
 * Chunk memory for an ingest thread: one ring buffer. A chunk lives from its read until the main thread's verdict on
 * it (stored: encoded into a box, which is what leaves the thread; or dropped as a duplicate), and verdicts come back
 * in the order the chunks were named, so chunks are freed in about the order they were allocated: a ring serves them
 * with no allocation at all. Fresh buffers per chunk (what this replaces) cost page faults, and every one dropped
 * stayed resident until the thread's next full collection: tens of MiB per thread.
 *
 * `allocWait` waits for room, in turn, so the ring is all the chunk memory a thread uses. Only a chunk larger than
 * the ring gets a buffer of its own (and `alloc`, which does not wait, gives one to any chunk that finds no room);
 * `release` reports such a buffer's bytes so the caller can have them collected. Handing out buffers instead of
 * waiting was measured as the costlier choice: ~250 per thread in the benchmark's initial backup, each a MiB or more
 * that often outlived the young generation, left for a full collection.
 */
interface Slot {
  readonly start: number;
  readonly end: number;
  freed: boolean;
}

export class ChunkRing {
  readonly #capacity: number;
  #memory: ArrayBuffer | undefined;
  /** Live slots in allocation order; the ring's used part runs from the first one's start to `head`. */
  readonly #slots: Slot[] = [];
  #first = 0;
  readonly #byStart = new Map<number, Slot>();
  #head = 0;
  /** Waiting allocations, served in order. */
  readonly #waiting: { readonly size: number; readonly resolve: (b: Buffer) => void }[] = [];
  /** Chunks that did not fit (for tests and tuning). */
  overflows = 0;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  /** A buffer of exactly `size` bytes: a slice of the ring, or a buffer of its own when the ring has no room. */
  alloc(size: number): Buffer {
    if (size === 0) return Buffer.alloc(0);
    return this.#slice(size) ?? this.#own(size);
  }

  /**
   * A slice of the ring of exactly `size` bytes once there is room for it, after the allocations already waiting;
   * a buffer of its own at once when `size` exceeds the ring. The room comes from `release`: a caller must not wait
   * here for room that only its own later work would free.
   */
  allocWait(size: number): Promise<Buffer> {
    if (size === 0 || size > this.#capacity) return Promise.resolve(this.alloc(size));
    const now = this.#waiting.length === 0 ? this.#slice(size) : undefined;
    if (now) return Promise.resolve(now);
    return new Promise((resolve) => this.#waiting.push({ size, resolve }));
  }

  /** Allocations waiting for room. */
  get waiting(): number {
    return this.#waiting.length;
  }

  #own(size: number): Buffer {
    this.overflows++;
    return Buffer.allocUnsafeSlow(size);
  }

  #slice(size: number): Buffer | undefined {
    this.#memory ??= new ArrayBuffer(this.#capacity); // zero pages: resident only once written
    const start = this.#place(size);
    if (start < 0) return undefined;
    const slot: Slot = { start, end: start + size, freed: false };
    this.#slots.push(slot);
    this.#byStart.set(start, slot);
    this.#head = slot.end;
    return Buffer.from(this.#memory, start, size);
  }

  /** Gives room to waiting allocations, in order, while the first one fits. */
  #serve(): void {
    while (this.#waiting.length > 0) {
      const next = this.#waiting[0]!;
      const b = this.#slice(next.size);
      if (!b) return;
      this.#waiting.shift();
      next.resolve(b);
    }
  }

  /** Gives a chunk's memory back; returns the bytes that are garbage now (an overflow buffer's). */
  release(chunk: Buffer): number {
    if (chunk.buffer !== this.#memory) return chunk.length;
    const slot = this.#byStart.get(chunk.byteOffset);
    if (!slot || slot.freed) return 0;
    slot.freed = true;
    this.#byStart.delete(slot.start);
    while (this.#first < this.#slots.length && this.#slots[this.#first]!.freed) this.#first++;
    if (this.#first === this.#slots.length) {
      this.#slots.length = 0;
      this.#first = 0;
      this.#head = 0; // empty: start over at the beginning, the longest free run
    } else if (this.#first > 1024) {
      this.#slots.splice(0, this.#first);
      this.#first = 0;
    }
    this.#serve();
    return 0;
  }

  /** Bytes between the oldest live chunk and the newest one's end (including skipped space at the wrap). */
  get used(): number {
    if (this.#first === this.#slots.length) return 0;
    const tail = this.#slots[this.#first]!.start;
    return this.#head > tail ? this.#head - tail : this.#capacity - tail + this.#head;
  }

  /** Where a chunk of `size` bytes fits, or -1. */
  #place(size: number): number {
    if (this.#first === this.#slots.length) return size <= this.#capacity ? 0 : -1;
    const tail = this.#slots[this.#first]!.start;
    if (this.#head > tail) {
      if (this.#capacity - this.#head >= size) return this.#head; // after the newest
      return tail >= size ? 0 : -1; // wrapped to the beginning, before the oldest
    }
    return tail - this.#head >= size ? this.#head : -1; // already wrapped: between newest and oldest
  }
}
