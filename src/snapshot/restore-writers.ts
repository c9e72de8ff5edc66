import { Worker } from 'node:worker_threads';
import type { WriteItem, WriteResult } from './restore-worker.js';

/** A pool of restore writer threads (see restore-worker.ts). */
export class RestoreWriters {
  readonly #workers: { worker: Worker; busy: number }[] = [];
  readonly #pending = new Map<number, { resolve(r: WriteResult[]): void; reject(e: unknown): void }>();
  #seq = 0;
  #failure: unknown;

  constructor(keys: { encKey: Buffer; macKey: Buffer }, n: number) {
    for (let i = 0; i < Math.max(1, n); i++) {
      const worker = new Worker(new URL('./restore-worker.js', import.meta.url), { workerData: { encKey: keys.encKey, macKey: keys.macKey } , resourceLimits: { maxYoungGenerationSizeMb: 4 } });
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

  /** Decodes the blobs (boxes inside `bytes`, which is moved to the thread) and writes their files. */
  write(bytes: Buffer, items: WriteItem[]): Promise<WriteResult[]> {
    if (this.#failure !== undefined || this.#workers.length === 0) return Promise.reject(this.#failure ?? new Error('the restore writer threads were stopped'));
    const slot = this.#workers.reduce((a, b) => (b.busy < a.busy ? b : a));
    const seq = this.#seq++;
    if (slot.busy++ === 0) slot.worker.ref();
    return new Promise((resolve, reject) => {
      this.#pending.set(seq, { resolve, reject });
      // a buffer that owns its memory moves without a copy; a view into another one is copied first
      const own: Uint8Array = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : new Uint8Array(bytes);
      slot.worker.postMessage({ seq, bytes: own, items }, [own.buffer as ArrayBuffer]);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.splice(0).map((w) => w.worker.terminate()));
  }
}
