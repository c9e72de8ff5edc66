import type { BlobType } from './ids.js';
import { packPath } from './ids.js';
import type { PackEntry } from './index-file.js';
import { PACK_TARGET_SIZE, PackBuilder } from './pack.js';
import type { ObjectWriter } from '../storage/storage.js';
import { GarbageMeter } from '../util/gc.js';

/** Where finished packs go: the repository writes them and records them in the index. */
export interface PackSink {
  /** Writes a whole pack; its buffer is reused for a later pack once the promise resolves, so it must not be kept. */
  writePack(id: string, path: string, parts: readonly Buffer[]): Promise<void>;
  packWritten(entry: PackEntry): Promise<void>;
  /** When the storage can write an object in pieces: packs are streamed to it as they fill instead of held. */
  openPackWriter?(): Promise<ObjectWriter>;
}

/** Bytes of boxes a streamed pack gathers before writing them out (one write call per MiB, not per blob). */
const STREAM_BYTES = 1024 * 1024;
/** Written stage buffers kept for later ones (a write or two in flight per pack, two packs). */
const STAGE_FREE_MAX = 4;

/** A data pack's spool: the target size plus a MiB, so that most packs fit without growing it. */
const SPOOL_BYTES = PACK_TARGET_SIZE + 1024 * 1024;
/** A tree pack's first spool (tree packs fill slowly, and most backups write one small one). */
const SMALL_SPOOL_BYTES = 64 * 1024;

/**
 * A pack being filled. Its boxes are copied as they come, so the caller can reuse a box's buffer once `add` returns
 * (the ingest lanes do: boxes go back to the thread that sealed them) and no box outlives the young generation,
 * held by a pack, into the old one, where only full collections free it. Streamed, the copies are MiB stage buffers
 * written out as they fill; otherwise a spool holding the whole pack.
 */
type OpenPack =
  | {
      readonly builder: PackBuilder;
      readonly stream: {
        readonly writer: Promise<ObjectWriter>;
        readonly stage: Stage;
        /** The writes so far, in order. */
        chain: Promise<void>;
      };
      readonly spool?: undefined;
    }
  | { readonly builder: PackBuilder; readonly spool: Spool; readonly stream?: undefined };

/** The bytes of a pack that is not streamed, in one buffer that is reused for later packs once written. */
class Spool {
  buffer: Buffer;
  length = 0;
  constructor(buffer: Buffer) {
    this.buffer = buffer;
  }
  append(parts: readonly Buffer[]): void {
    const need = this.length + byteLength(parts);
    if (need > this.buffer.length) {
      // a small (tree) spool doubles; a data spool grows only to what the pack's last blob needs
      const bigger = Buffer.allocUnsafeSlow(Math.max(need, Math.min(2 * this.buffer.length, SPOOL_BYTES)));
      this.buffer.copy(bigger, 0, 0, this.length);
      this.buffer = bigger;
    }
    for (const p of parts) this.length += p.copy(this.buffer, this.length);
  }
  get bytes(): Buffer {
    return this.buffer.subarray(0, this.length);
  }
}

/**
 * A streamed pack's bytes not yet written, copied into buffers of STREAM_BYTES from the packer's free list: full ones
 * are written, and the buffers go back to the list once written.
 */
class Stage {
  readonly #free: Buffer[];
  #current: Buffer | undefined;
  #length = 0;
  readonly #full: Buffer[] = [];
  constructor(free: Buffer[]) {
    this.#free = free;
  }
  append(parts: readonly Buffer[]): void {
    for (const part of parts) {
      for (let off = 0; off < part.length; ) {
        const into = (this.#current ??= this.#free.pop() ?? Buffer.allocUnsafeSlow(STREAM_BYTES));
        const n = part.copy(into, this.#length, off);
        off += n;
        this.#length += n;
        if (this.#length === into.length) {
          this.#full.push(into);
          this.#current = undefined;
          this.#length = 0;
        }
      }
    }
  }
  /** The full buffers, in order; with `all`, the partly filled one too (cut to its bytes), and the stage is empty. */
  take(all: boolean): Buffer[] {
    const out = this.#full.splice(0);
    if (all && this.#current) {
      out.push(this.#current.subarray(0, this.#length));
      this.#current = undefined;
      this.#length = 0;
    }
    return out;
  }
}

/**
 * Groups encrypted blobs into packs of one type and writes each finished pack, with a bounded number of
 * writes in flight: `add` waits when that many packs are being written, which bounds memory. Where the storage
 * has writers (a local folder), packs are streamed while they fill, so memory does not hold whole packs at all;
 * elsewhere (S3, SFTP, a mirror) each pack is spooled into one buffer, reused for later packs.
 */
export class Packer {
  readonly #encKey: Buffer;
  readonly #sink: PackSink;
  readonly #maxInFlight: number;
  readonly #open = new Map<BlobType, OpenPack>();
  readonly #inFlight = new Set<Promise<void>>();
  /**
   * Boxes are garbage once copied, unless their caller reuses them (an ingest lane's larger boxes): their wrappers are
   * young, so a minor collection frees them.
   */
  readonly #garbage = new GarbageMeter(16 * 1024 * 1024);
  /**
   * Boxes that waited (for a write in flight) long enough to leave the young generation are freed only by a full
   * collection: one every 4 spooled packs (after every pack, those collections cost ~3 s per 1.5 GB).
   */
  readonly #spooled = new GarbageMeter(4 * PACK_TARGET_SIZE, 'major');
  /**
   * A written pack's spool buffer, kept for the next pack: one, not one per write in flight, which kept up to
   * 6 x 17 MiB resident for S3 (more writes in flight get buffers of their own, freed by the full collections).
   */
  readonly #spools: Buffer[] = [];
  /** Written stage buffers of streamed packs, for later ones. */
  readonly #stages: Buffer[] = [];
  #failure: unknown = undefined;

  constructor(encKey: Buffer, sink: PackSink, maxInFlight = 2) {
    this.#encKey = encKey;
    this.#sink = sink;
    this.#maxInFlight = maxInFlight;
  }

  /** Adds a box to the open pack of its type. The box is copied before this returns: its buffer is the caller's again. */
  async add(type: BlobType, id: string, box: Buffer, rawLength: number, compressed: boolean): Promise<void> {
    this.#throwIfFailed();
    let p = this.#open.get(type);
    if (!p) {
      const writer = this.#sink.openPackWriter?.();
      const builder = new PackBuilder(type);
      p = writer
        ? { builder, stream: { writer, stage: new Stage(this.#stages), chain: writer.then(() => undefined) } }
        : { builder, spool: this.#newSpool(type) };
      this.#open.set(type, p);
    }
    p.builder.add(id, box, rawLength, compressed);
    (p.spool ?? p.stream.stage).append([box]);
    this.#garbage.add(box.length);
    if (p.builder.full) {
      this.#open.delete(type);
      await this.#write(p);
    } else if (p.stream) {
      const full = p.stream.stage.take(false);
      if (full.length === 0) return;
      const { stream } = p;
      stream.chain = stream.chain.then(async () => {
        await (await stream.writer).write(full);
        this.#reuseStages(full);
      });
      await stream.chain; // the caller waits for the disk: this bounds what is held
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
    const { id, trailer, blobs } = b.finish(this.#encKey);
    const path = packPath(id);
    const { stream, spool } = p;
    const written = stream
      ? stream.chain
          .then(async () => {
            const w = await stream.writer;
            const staged = stream.stage.take(true);
            await w.write([...staged, ...trailer]);
            await w.commit(path);
            this.#reuseStages(staged);
          })
          .catch(async (err: unknown) => {
            await abortWriter(p);
            throw err;
          })
      : this.#writeSpooled(id, path, spool, trailer);
    const done: Promise<void> = written
      .then(() => this.#sink.packWritten({ id, type: b.type, blobs }))
      .catch((err: unknown) => {
        this.#failure ??= err;
      })
      .finally(() => this.#inFlight.delete(done));
    this.#inFlight.add(done);
  }

  /**
   * A data pack gets a spool of a written pack, or a new one of the target size; a tree pack a small one that
   * grows as needed (measured: copying 1.5 GB of boxes costs ~0.2 s; the full collections it replaced, ~3 s).
   */
  #newSpool(type: BlobType): Spool {
    return new Spool(type === 'data' ? (this.#spools.pop() ?? Buffer.allocUnsafeSlow(SPOOL_BYTES)) : Buffer.allocUnsafeSlow(SMALL_SPOOL_BYTES));
  }

  /** Writes a spooled pack, its last parts (header and length) appended, and keeps its buffer for the next one. */
  async #writeSpooled(id: string, path: string, spool: Spool, last: readonly Buffer[]): Promise<void> {
    spool.append(last);
    await this.#sink.writePack(id, path, [spool.bytes]);
    // reused only after a successful write: a failed one may have left a request holding the buffer
    if (spool.buffer.length >= SPOOL_BYTES && this.#spools.length === 0) this.#spools.push(spool.buffer);
    this.#spooled.add(spool.length);
  }

  /** Keeps written stage buffers for later ones (a few: more were in flight only for a moment). */
  #reuseStages(written: readonly Buffer[]): void {
    for (const b of written) {
      if (this.#stages.length >= STAGE_FREE_MAX) return;
      if (b.buffer.byteLength === STREAM_BYTES) this.#stages.push(Buffer.from(b.buffer, 0, STREAM_BYTES));
    }
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
