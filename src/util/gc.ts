/**
 * An explicit garbage collection, for threads that move large buffers through few JS objects (V8 frees a Buffer's
 * memory only when it collects the small wrapper). Uses V8's own gc() exposed through its flag, as --expose-gc would.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as (options?: { type: 'minor' | 'major'; execution?: 'sync' | 'async' }) => void;

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
