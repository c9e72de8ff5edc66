import { createHash, type Hash } from 'node:crypto';
import { IntegrityError } from '../util/errors.js';
import { open, seal } from './crypto.js';
import type { BlobType } from './ids.js';

/** One blob inside a pack (format §5.3). */
export interface PackedBlob {
  readonly id: string;
  readonly type: BlobType;
  readonly offset: number;
  readonly length: number;
  readonly rawLength: number;
  readonly compressed: boolean;
}

const ENTRY = 42;
export const PACK_TARGET_SIZE = 16 * 1024 * 1024;

/**
 * Lists and hashes the encrypted blobs of a pack as they are added, and produces the pack's header and id. It does
 * not keep the blobs: the caller writes them (in the order added), then the trailer `finish` returns.
 */
export class PackBuilder {
  readonly type: BlobType;
  readonly #blobs: PackedBlob[] = [];
  readonly #hash: Hash = createHash('sha256');
  #size = 0;

  constructor(type: BlobType) {
    this.type = type;
  }

  get size(): number {
    return this.#size;
  }
  get count(): number {
    return this.#blobs.length;
  }
  get full(): boolean {
    return this.#size >= PACK_TARGET_SIZE;
  }

  add(id: string, box: Buffer, rawLength: number, compressed: boolean): void {
    this.#blobs.push({ id, type: this.type, offset: this.#size, length: box.length, rawLength, compressed });
    this.#hash.update(box);
    this.#size += box.length;
  }

  /** Seals the header: the pack's id and its trailer (header box, length). The builder must not be used afterwards. */
  finish(encKey: Buffer): { id: string; trailer: Buffer[]; blobs: PackedBlob[] } {
    const header = Buffer.alloc(this.#blobs.length * ENTRY);
    this.#blobs.forEach((b, i) => {
      const o = i * ENTRY;
      header[o] = b.type === 'tree' ? 1 : 0;
      header[o + 1] = b.compressed ? 1 : 0;
      header.writeUInt32LE(b.length, o + 2);
      header.writeUInt32LE(b.rawLength, o + 6);
      header.write(b.id, o + 10, 'hex');
    });
    const box = seal(encKey, header);
    const len = Buffer.alloc(4);
    len.writeUInt32LE(box.length);
    this.#hash.update(box).update(len);
    return { id: this.#hash.digest('hex'), trailer: [box, len], blobs: this.#blobs };
  }
}

/** Reads a pack's header from its tail bytes. `tail` must end at the end of the pack; `packSize` is the whole size. */
export function parsePackHeader(encKey: Buffer, tail: Buffer, packSize: number, packId: string): PackedBlob[] {
  const what = `pack ${packId.slice(0, 8)}`;
  if (tail.length < 4) throw new IntegrityError(`${what}: too short to hold a header`);
  const boxLen = tail.readUInt32LE(tail.length - 4);
  if (boxLen + 4 > tail.length || boxLen + 4 > packSize) throw new IntegrityError(`${what}: header length ${boxLen} is out of range`);
  const header = open(encKey, tail.subarray(tail.length - 4 - boxLen, tail.length - 4), `${what} header`);
  if (header.length % ENTRY !== 0) throw new IntegrityError(`${what}: header size ${header.length} is not a multiple of ${ENTRY}`);
  const blobs: PackedBlob[] = [];
  let offset = 0;
  for (let o = 0; o < header.length; o += ENTRY) {
    const length = header.readUInt32LE(o + 2);
    blobs.push({
      type: header[o] === 1 ? 'tree' : 'data',
      compressed: (header[o + 1]! & 1) === 1,
      length,
      rawLength: header.readUInt32LE(o + 6),
      id: header.toString('hex', o + 10, o + 42),
      offset,
    });
    offset += length;
  }
  if (offset + boxLen + 4 !== packSize) throw new IntegrityError(`${what}: header describes ${offset} bytes of blobs, the pack has ${packSize - boxLen - 4}`);
  return blobs;
}

/** How many tail bytes to fetch to be likely to get the header in one read. */
export const HEADER_PROBE = 64 * 1024;
