import type { BlobType } from './ids.js';
import { packPath } from './ids.js';
import type { PackEntry } from './index-file.js';
import { PackBuilder } from './pack.js';
import type { ObjectWriter } from '../storage/storage.js';
import { GarbageMeter, collectNow } from '../util/gc.js';

/** Where finished packs go: the repository writes them and records them in the index. */
export interface PackSink {
  writePack(id: string, path: string, parts: readonly Buffer[]): Promise<void>;
  packWritten(entry: PackEntry): Promise<void>;
  /** When the storage can write an object in pieces: packs are streamed to it as they fill instead of held. */
  openPackWriter?(): Promise<ObjectWriter>;
}

/** Bytes of boxes a streamed pack gathers before writing them out (one write call per MiB, not per blob). */
const STREAM_BYTES = 1024 * 1024;

/** A pack being filled; streamed, its boxes are written out as they come and only a MiB is held. */
interface OpenPack {
  readonly builder: PackBuilder;
  readonly stream?: {
    readonly writer: Promise<ObjectWriter>;
    /** The writes so far, in order. */
    chain: Promise<void>;
  };
}

/**
 * Groups encrypted blobs into packs of one type and writes each finished pack, with a bounded number of
 * writes in flight: `add` waits when that many packs are being written, which bounds memory. Where the storage
 * has writers (a local folder), packs are streamed while they fill, so memory does not hold whole packs at all.
 */
export class Packer {
  readonly #encKey: Buffer;
  readonly #sink: PackSink;
  readonly #maxInFlight: number;
  readonly #open = new Map<BlobType, OpenPack>();
  readonly #inFlight = new Set<Promise<void>>();
  /** Streamed boxes are garbage once written: their wrappers are young, so a minor collection frees them. */
  readonly #garbage = new GarbageMeter(16 * 1024 * 1024);
  #failure: unknown = undefined;

  constructor(encKey: Buffer, sink: PackSink, maxInFlight = 2) {
    this.#encKey = encKey;
    this.#sink = sink;
    this.#maxInFlight = maxInFlight;
  }

  async add(type: BlobType, id: string, box: Buffer, rawLength: number, compressed: boolean): Promise<void> {
    this.#throwIfFailed();
    let p = this.#open.get(type);
    if (!p) {
      const writer = this.#sink.openPackWriter?.();
      p = { builder: new PackBuilder(type), ...(writer ? { stream: { writer, chain: writer.then(() => undefined) } } : {}) };
      this.#open.set(type, p);
    }
    p.builder.add(id, box, rawLength, compressed);
    if (p.builder.full) {
      this.#open.delete(type);
      await this.#write(p);
    } else if (p.stream && p.builder.heldBytes >= STREAM_BYTES) {
      const { stream } = p;
      const parts = p.builder.takeParts();
      stream.chain = stream.chain.then(async () => (await stream.writer).write(parts));
      await stream.chain; // the caller waits for the disk: this bounds what is held
      this.#garbage.add(byteLength(parts));
    }
  }

  /** Writes every open pack and waits for all writes. */
  async flush(): Promise<void> {
    for (const [type, p] of this.#open) {
      this.#open.delete(type);
      if (p.builder.count > 0) await this.#write(p);
      else await abortWriter(p);
    }
    while (this.#inFlight.size > 0) await Promise.race(this.#inFlight);
    this.#throwIfFailed();
  }

  /** Forgets the open packs and waits for writes in flight, ignoring their failures (after an error). */
  async settle(): Promise<void> {
    const open = [...this.#open.values()];
    this.#open.clear();
    await Promise.all(open.map(abortWriter));
    while (this.#inFlight.size > 0) await Promise.race(this.#inFlight);
  }

  async #write(p: OpenPack): Promise<void> {
    while (this.#inFlight.size >= this.#maxInFlight) await Promise.race(this.#inFlight);
    this.#throwIfFailed();
    const b = p.builder;
    const { id, parts, blobs } = b.finish(this.#encKey);
    const path = packPath(id);
    const { stream } = p;
    const written = stream
      ? stream.chain
          .then(async () => {
            const w = await stream.writer;
            await w.write(parts);
            await w.commit(path);
          })
          .catch(async (err: unknown) => {
            await abortWriter(p);
            throw err;
          })
      : this.#sink.writePack(id, path, parts);
    const done: Promise<void> = written
      .then(() => this.#sink.packWritten({ id, type: b.type, blobs }))
      .then(() => {
        // the pack's boxes are garbage now; V8 would free them only at its next collection, which it schedules
        // by JS allocations, not by buffer bytes: ask for one (measured: peak RSS of a backup -15 %)
        if (stream) this.#garbage.add(byteLength(parts));
        else collectNow();
        parts.length = 0;
      })
      .catch((err: unknown) => {
        this.#failure ??= err;
      })
      .finally(() => this.#inFlight.delete(done));
    this.#inFlight.add(done);
  }

  #throwIfFailed(): void {
    if (this.#failure !== undefined) throw this.#failure;
  }
}

function byteLength(parts: readonly Buffer[]): number {
  return parts.reduce((n, b) => n + b.length, 0);
}

async function abortWriter(p: OpenPack): Promise<void> {
  await p.stream?.writer.then((w) => w.abort()).catch(() => undefined);
}
