import type { BlobType } from './ids.js';
import type { PackedBlob } from './pack.js';

/** Where a blob lives. */
export interface BlobLocation {
  /** The blob's id, where the index holds it: one string shared by everything that refers to the blob. */
  readonly id?: string;
  readonly pack: string;
  readonly type: BlobType;
  readonly offset: number;
  readonly length: number;
  readonly rawLength: number;
  readonly compressed: boolean;
}

/** The JSON shape of an index file (format §6). */
export interface IndexFileJson {
  version: 1;
  supersedes: string[];
  packs: { id: string; type: BlobType; blobs: [string, number, number, number, 0 | 1][] }[];
}

export interface PackEntry {
  readonly id: string;
  readonly type: BlobType;
  readonly blobs: readonly PackedBlob[];
}

export function encodeIndex(packs: readonly PackEntry[], supersedes: readonly string[] = []): IndexFileJson {
  return {
    version: 1,
    supersedes: [...supersedes],
    packs: packs.map((p) => ({ id: p.id, type: p.type, blobs: p.blobs.map((b) => [b.id, b.offset, b.length, b.rawLength, b.compressed ? 1 : 0]) })),
  };
}

export function decodeIndex(json: IndexFileJson): PackEntry[] {
  return json.packs.map((p) => ({
    id: p.id,
    type: p.type,
    blobs: p.blobs.map(([id, offset, length, rawLength, c]) => ({ id, type: p.type, offset, length, rawLength, compressed: c === 1 })),
  }));
}

/** The union of all index files: blob id → locations, and pack id → its blobs (each blob also carrying its pack id). */
export class MasterIndex {
  readonly #blobs = new Map<string, BlobLocation | BlobLocation[]>();
  readonly #packs = new Map<string, PackEntry>();

  addPack(p: PackEntry): void {
    if (this.#packs.has(p.id)) return;
    // one object per blob serves both maps (a pack's list and the blob's locations): the index is most of what a
    // large repository keeps in memory
    // (an object literal, not a spread: all of them then share one shape with every field in the object itself)
    const blobs = p.blobs.map((b): PackedBlob & BlobLocation => ({ id: b.id, pack: p.id, type: b.type, offset: b.offset, length: b.length, rawLength: b.rawLength, compressed: b.compressed }));
    this.#packs.set(p.id, { id: p.id, type: p.type, blobs });
    for (const loc of blobs) {
      const prev = this.#blobs.get(loc.id);
      if (prev === undefined) this.#blobs.set(loc.id, loc);
      else if (Array.isArray(prev)) prev.push(loc);
      else this.#blobs.set(loc.id, [prev, loc]);
    }
  }

  has(id: string): boolean {
    return this.#blobs.has(id);
  }

  /** Every location of a blob, first one first. */
  lookup(id: string): readonly BlobLocation[] {
    const v = this.#blobs.get(id);
    return v === undefined ? [] : Array.isArray(v) ? v : [v];
  }

  pack(id: string): PackEntry | undefined {
    return this.#packs.get(id);
  }

  packs(): IterableIterator<PackEntry> {
    return this.#packs.values();
  }

  get packCount(): number {
    return this.#packs.size;
  }
  get blobCount(): number {
    return this.#blobs.size;
  }
}
