/**
 * Box buffers an ingest lane reuses. A box leaves its lane for the main thread, which copies it into a pack and sends
 * its buffer back with the acknowledgement (transferred, like the box): the lane seals later boxes into it. Before,
 * every box was a fresh buffer, freed only when the main thread's next collection found it dead: the benchmark's
 * initial backup held ~20 MiB of them at its peak, and how much depended on when collections ran (collecting every
 * 512 KiB of boxes instead of 16 MiB held more, not less, as boxes still in flight were promoted).
 *
 * Only buffers of RECYCLE_MIN bytes or more go round: a small file's box is a few KiB, and handing out a large buffer
 * for it would hold more memory than it saves.
 */
export const RECYCLE_MIN = 64 * 1024;
/** New buffers are rounded up to this, so a returned buffer fits more later boxes. */
const GRANULE = 64 * 1024;

export class BoxPool {
  readonly #free: ArrayBuffer[] = [];
  #bytes = 0;
  readonly #max: number;

  /** `max`: bytes of returned buffers kept (about the bytes a lane has in flight). */
  constructor(max: number) {
    this.#max = max;
  }

  /** Bytes of returned buffers held. */
  get bytes(): number {
    return this.#bytes;
  }

  /** A buffer of at least `size` bytes: the smallest returned one that fits, or a new one. */
  take(size: number): Buffer {
    if (size < RECYCLE_MIN) return Buffer.allocUnsafeSlow(size);
    let best = -1;
    for (let i = 0; i < this.#free.length; i++) {
      const n = this.#free[i]!.byteLength;
      if (n >= size && (best < 0 || n < this.#free[best]!.byteLength)) best = i;
    }
    if (best < 0) return Buffer.allocUnsafeSlow(Math.ceil(size / GRANULE) * GRANULE);
    const [ab] = this.#free.splice(best, 1);
    this.#bytes -= ab!.byteLength;
    return Buffer.from(ab!);
  }

  /** Takes buffers back. Returns the bytes of those let go to stay within `max` (the oldest): garbage now. */
  give(buffers: readonly ArrayBuffer[]): number {
    for (const ab of buffers) {
      this.#free.push(ab);
      this.#bytes += ab.byteLength;
    }
    let dropped = 0;
    while (this.#bytes > this.#max) {
      const ab = this.#free.shift()!;
      this.#bytes -= ab.byteLength;
      dropped += ab.byteLength;
    }
    return dropped;
  }
}
