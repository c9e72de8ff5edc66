/**
 * An explicit garbage collection, for threads that move large buffers through few JS objects (V8 frees a Buffer's
 * memory only when it collects the small wrapper). Uses V8's own gc() exposed through its flag, as --expose-gc would.
 */
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
/**
 * V8's gc(). Without options: a precise full collection, now. `{ type: 'minor' }` collects the young generation.
 * `{ type: 'major' }` is not the same: during a backup it left 21–33 MiB of a heap that gc() brings to 13 (it seems
 * to finish a marking already under way, which counts what was allocated since as live). `execution: 'async'`
 * schedules the collection; an `execution` of 'sync' does nothing at all.
 */
const gc = runInNewContext('gc') as (options?: { type: 'minor' | 'major'; execution?: 'async' }) => void;

/** A full collection now: for memory a thread knows it has just let go of. */
export function collectGarbage(): void {
  gc();
}

/**
 * Counts the bytes of short-lived buffers a thread has dropped (decrypted and decompressed blobs, pack reads) and
 * collects the young generation after every `every` bytes. A worker thread allocates few JS objects, so V8 would
 * otherwise wait for its external-memory limit (tens of MiB per thread) before freeing any of them. `major`
 * collects the whole heap instead, for buffers that may have lived long enough to leave the young generation.
 */
export class GarbageMeter {
  readonly #every: number;
  readonly #type: 'minor' | 'major';
  #bytes = 0;
  constructor(every: number, type: 'minor' | 'major' = 'minor') {
    this.#every = every;
    this.#type = type;
  }
  add(bytes: number): void {
    this.#bytes += bytes;
    if (this.#bytes < this.#every) return;
    this.#bytes = 0;
    if (this.#type === 'minor') gc({ type: 'minor' });
    else gc({ type: 'major', execution: 'async' });
  }

  /** `add`, once the current message handler has returned: buffers still in its scope would survive a collection now. */
  addSoon(bytes: number): void {
    setImmediate(() => this.add(bytes));
  }
}

export interface HeapCapOptions {
  /** Growth allowed over the last live size before a full collection, at least (default 4 MiB)... */
  readonly minSlack?: number;
  /** ...or this fraction of the live size when larger (default 0.5: a full collection costs in proportion to it). */
  readonly slackRatio?: number;
  /** How often the heap is looked at (default 20 ms; a look costs a few microseconds). */
  readonly intervalMs?: number;
}

export interface HeapCap {
  /** Full collections run, and the milliseconds they took. */
  readonly collections: number;
  readonly milliseconds: number;
  stop(): void;
}

/**
 * Keeps this thread's heap near what it holds live. V8 lets an old generation grow to 2–4x its live size before it
 * collects it, and a backup's walk or a restore's plan promotes plenty of short-lived objects (stats, parent trees,
 * serialised trees): the main thread of an unchanged re-backup reached a 42 MiB heap for ~15 MiB live, over a third
 * of its peak RSS. A timer looks at the heap's used size and runs a full collection once it has grown by the slack
 * since the last one: on the 1.5 GB benchmark, 4–8 collections (25–70 ms) per backup for 12–30 MiB less peak RSS.
 * The timer does not keep the process alive.
 */
export function capHeap(options: HeapCapOptions = {}): HeapCap {
  const minSlack = options.minSlack ?? 4 * 1024 * 1024;
  const ratio = options.slackRatio ?? 0.5;
  let live = getHeapStatistics().used_heap_size;
  const state = { collections: 0, milliseconds: 0 };
  const timer = setInterval(() => {
    if (getHeapStatistics().used_heap_size <= live + Math.max(minSlack, live * ratio)) return;
    const t0 = performance.now();
    gc();
    state.milliseconds += performance.now() - t0;
    state.collections++;
    live = getHeapStatistics().used_heap_size;
  }, options.intervalMs ?? 20);
  timer.unref();
  return {
    get collections() {
      return state.collections;
    },
    get milliseconds() {
      return state.milliseconds;
    },
    stop: () => clearInterval(timer),
  };
}
