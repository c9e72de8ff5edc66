import { Worker } from 'node:worker_threads';
import { BatchWriter, type WriteItem, type WriteResult } from './restore-batch.js';

/**
 * Where a restore's batches are decoded and written: writer threads (restore-worker.ts) and a lane on this thread.
 *
 * The lane takes a batch when it is idle and every thread already has one: the threads get the work first, and this
 * thread (which otherwise reads packs and waits) does what they cannot take yet. On a 2-core machine that is one
 * writer thread and the lane instead of two threads: a V8 isolate, its heap and the buffers in transit fewer. On the
 * 1.5 GB benchmark, medians of five interleaved runs: 125 MiB peak RSS instead of 170 (restic: 126), 8.7 s instead
 * of 7.3 (restic: 10.2). Writing small files is system-call work, so a thread more helps only while a core is free.
 * The restorer uses the lane for a local repository only: from a network target this thread runs the storage client.
 */
export class RestoreWriters {
  readonly #workers: { worker: Worker; busy: number }[] = [];
  readonly #lane: { writer: BatchWriter; busy: boolean } | null;
  readonly #pending = new Map<number, { resolve(r: WriteResult[]): void; reject(e: unknown): void }>();
  #seq = 0;
  #failure: unknown;
  #closed = false;
  /** Batches written by the lane and by the threads. */
  readonly handled = { lane: 0, threads: 0 };

  /** `threads` writer threads and, with `lane` (or no thread), the lane. */
  constructor(keys: { encKey: Buffer; macKey: Buffer }, threads: number, lane = true) {
    this.#lane = lane || threads === 0 ? { writer: new BatchWriter(keys), busy: false } : null;
    for (let i = 0; i < threads; i++) {
      const worker = new Worker(new URL('./restore-worker.js', import.meta.url), { workerData: { encKey: keys.encKey, macKey: keys.macKey }, resourceLimits: { maxYoungGenerationSizeMb: 4 } });
      const slot = { worker, busy: 0 };
      worker.on('message', (m: { seq: number; results: WriteResult[] }) => {
        slot.busy--;
        if (slot.busy === 0) worker.unref();
        const p = this.#pending.get(m.seq);
        this.#pending.delete(m.seq);
        p?.resolve(m.results);
      });
      worker.on('error', (err) => {
        this.#failure ??= err;
        for (const p of this.#pending.values()) p.reject(err);
        this.#pending.clear();
      });
      worker.unref();
      this.#workers.push(slot);
    }
  }

  /** Decodes the blobs (boxes inside `bytes`, which is moved to a thread) and writes their files. */
  write(bytes: Buffer, items: WriteItem[]): Promise<WriteResult[]> {
    if (this.#failure !== undefined || this.#closed) return Promise.reject(this.#failure ?? new Error('the restore writers were stopped'));
    const slot = this.#workers.reduce<{ worker: Worker; busy: number } | null>((a, b) => (a === null || b.busy < a.busy ? b : a), null);
    const lane = this.#lane;
    if (lane && (slot === null || (!lane.busy && slot.busy > 0))) {
      lane.busy = true;
      this.handled.lane++;
      // after the current callbacks, as a message to a thread would be handled: the caller goes on first
      return new Promise((resolve, reject) =>
        setImmediate(() => {
          try {
            resolve(lane.writer.write(bytes, items));
          } catch (err) {
            reject(err);
          } finally {
            lane.busy = false;
          }
        }),
      );
    }
    if (!slot) return Promise.reject(new Error('the restore writers were stopped'));
    const seq = this.#seq++;
    this.handled.threads++;
    if (slot.busy++ === 0) slot.worker.ref();
    return new Promise((resolve, reject) => {
      this.#pending.set(seq, { resolve, reject });
      // a buffer that owns its memory moves without a copy; a view into another one is copied first
      const own: Uint8Array = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : new Uint8Array(bytes);
      slot.worker.postMessage({ seq, bytes: own, items }, [own.buffer as ArrayBuffer]);
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#workers.splice(0).map((w) => w.worker.terminate()));
  }
}
