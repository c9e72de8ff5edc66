import type { BlobType } from './ids.js';
import { packPath } from './ids.js';
import type { PackEntry } from './index-file.js';
import { PackBuilder } from './pack.js';
import { collectNow } from '../util/gc.js';

/** Where finished packs go: the repository writes them and records them in the index. */
export interface PackSink {
  writePack(id: string, path: string, parts: readonly Buffer[]): Promise<void>;
  packWritten(entry: PackEntry): Promise<void>;
}

/**
 * Groups encrypted blobs into packs of one type and writes each finished pack, with a bounded number of
 * writes in flight: `add` waits when that many packs are being written, which bounds memory.
 */
export class Packer {
  readonly #encKey: Buffer;
  readonly #sink: PackSink;
  readonly #maxInFlight: number;
  readonly #open = new Map<BlobType, PackBuilder>();
  readonly #inFlight = new Set<Promise<void>>();
  #failure: unknown = undefined;

  constructor(encKey: Buffer, sink: PackSink, maxInFlight = 2) {
    this.#encKey = encKey;
    this.#sink = sink;
    this.#maxInFlight = maxInFlight;
  }

  async add(type: BlobType, id: string, box: Buffer, rawLength: number, compressed: boolean): Promise<void> {
    this.#throwIfFailed();
    let b = this.#open.get(type);
    if (!b) {
      b = new PackBuilder(type);
      this.#open.set(type, b);
    }
    b.add(id, box, rawLength, compressed);
    if (b.full) {
      this.#open.delete(type);
      await this.#write(b);
    }
  }

  /** Writes every open pack and waits for all writes. */
  async flush(): Promise<void> {
    for (const [type, b] of this.#open) {
      this.#open.delete(type);
      if (b.count > 0) await this.#write(b);
    }
    while (this.#inFlight.size > 0) await Promise.race(this.#inFlight);
    this.#throwIfFailed();
  }

  /** Forgets the open packs and waits for writes in flight, ignoring their failures (after an error). */
  async settle(): Promise<void> {
    this.#open.clear();
    while (this.#inFlight.size > 0) await Promise.race(this.#inFlight);
  }

  async #write(b: PackBuilder): Promise<void> {
    while (this.#inFlight.size >= this.#maxInFlight) await Promise.race(this.#inFlight);
    this.#throwIfFailed();
    const { id, parts, blobs } = b.finish(this.#encKey);
    const p: Promise<void> = this.#sink
      .writePack(id, packPath(id), parts)
      .then(() => this.#sink.packWritten({ id, type: b.type, blobs }))
      .then(() => {
        // the pack's boxes (16 MiB) are garbage now; V8 would free them only at its next collection, which it
        // schedules by JS allocations, not by buffer bytes: ask for one (measured: peak RSS of a backup -15 %)
        parts.length = 0;
        collectNow();
      })
      .catch((err: unknown) => {
        this.#failure ??= err;
      })
      .finally(() => this.#inFlight.delete(p));
    this.#inFlight.add(p);
  }

  #throwIfFailed(): void {
    if (this.#failure !== undefined) throw this.#failure;
  }
}
