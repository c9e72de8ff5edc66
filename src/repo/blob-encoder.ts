import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { BlobCompressor, type CompressionMode } from './compression.js';
import { seal } from './crypto.js';

/** A blob made ready for a pack: compressed when it pays, then encrypted. */
export interface EncodedBlob {
  readonly box: Buffer;
  readonly compressed: boolean;
}

/** Compression + encryption of blobs; the CPU-heavy half of a backup. */
export interface BlobEncoder {
  /** Takes ownership of `plain`: the caller must not use it afterwards (it may be moved to another thread). */
  encode(plain: Buffer): Promise<EncodedBlob>;
  close(): Promise<void>;
}

/** Encodes on the calling thread. */
export class InlineEncoder implements BlobEncoder {
  readonly #key: Buffer;
  readonly #compressor: BlobCompressor;
  constructor(encKey: Buffer, mode: CompressionMode) {
    this.#key = encKey;
    this.#compressor = new BlobCompressor(mode);
  }
  encode(plain: Buffer): Promise<EncodedBlob> {
    return Promise.resolve(this.encodeSync(plain));
  }
  encodeSync(plain: Buffer): EncodedBlob {
    const c = this.#compressor.compress(plain);
    return { box: seal(this.#key, c ?? plain), compressed: c !== null };
  }
  async close(): Promise<void> {}
}

interface Task {
  resolve(b: EncodedBlob): void;
  reject(e: unknown): void;
  bytes: number;
}

interface Slot {
  readonly worker: Worker;
  readonly tasks: Map<number, Task>;
}

/** Blobs smaller than this are encoded inline: a message round trip would cost more than the work. */
const INLINE_BELOW = 16 * 1024;
/** Bytes handed to workers and not yet returned; encode() waits beyond this, which bounds memory. */
const MAX_IN_FLIGHT = 48 * 1024 * 1024;

/**
 * Encodes on worker threads (one per core). Each worker holds its own zstd contexts and a copy of the encryption key.
 * Workers keep the process alive only while they have work.
 */
export class WorkerEncoder implements BlobEncoder {
  readonly #inline: InlineEncoder;
  readonly #slots: Slot[] = [];
  #seq = 0;
  #inFlight = 0;
  readonly #waiting: (() => void)[] = [];
  #failure: unknown;

  constructor(encKey: Buffer, mode: CompressionMode, workers = availableParallelism()) {
    this.#inline = new InlineEncoder(encKey, mode);
    for (let i = 0; i < Math.max(1, workers); i++) {
      const worker = new Worker(new URL('./encode-worker.js', import.meta.url), { workerData: { encKey, mode } });
      const slot: Slot = { worker, tasks: new Map() };
      worker.on('message', (m: { seq: number; box: ArrayBuffer; compressed: boolean }) => this.#done(slot, m));
      worker.on('error', (err) => this.#fail(slot, err));
      worker.unref();
      this.#slots.push(slot);
    }
  }

  async encode(plain: Buffer): Promise<EncodedBlob> {
    if (this.#failure !== undefined) throw this.#failure;
    if (plain.length < INLINE_BELOW) return this.#inline.encodeSync(plain);
    while (this.#inFlight > 0 && this.#inFlight + plain.length > MAX_IN_FLIGHT) await new Promise<void>((r) => this.#waiting.push(r));
    const slot = this.#slots.reduce((a, b) => (b.tasks.size < a.tasks.size ? b : a));
    // A buffer that owns its whole ArrayBuffer (the chunker's output) is moved to the worker without a copy; the
    // caller gives it up. Anything else (a view into a larger or pooled buffer) is copied into one that does
    // (at this size Buffer.from never uses the shared pool).
    const owns = plain.byteOffset === 0 && plain.byteLength === plain.buffer.byteLength && !(plain.buffer instanceof SharedArrayBuffer);
    const data = owns ? plain : Buffer.from(plain);
    const seq = this.#seq++;
    const bytes = plain.length;
    this.#inFlight += bytes;
    if (slot.tasks.size === 0) slot.worker.ref();
    return new Promise<EncodedBlob>((resolve, reject) => {
      slot.tasks.set(seq, { resolve, reject, bytes });
      slot.worker.postMessage({ seq, data }, [data.buffer as ArrayBuffer]);
    });
  }

  #done(slot: Slot, m: { seq: number; box: ArrayBuffer; compressed: boolean }): void {
    const t = slot.tasks.get(m.seq);
    if (!t) return;
    slot.tasks.delete(m.seq);
    if (slot.tasks.size === 0) slot.worker.unref();
    this.#release(t.bytes);
    t.resolve({ box: Buffer.from(m.box), compressed: m.compressed });
  }

  #fail(slot: Slot, err: unknown): void {
    this.#failure ??= err;
    for (const t of slot.tasks.values()) {
      this.#release(t.bytes);
      t.reject(err);
    }
    slot.tasks.clear();
  }

  #release(bytes: number): void {
    this.#inFlight -= bytes;
    for (const w of this.#waiting.splice(0)) w();
  }

  async close(): Promise<void> {
    await Promise.all(this.#slots.map((s) => s.worker.terminate()));
  }
}
