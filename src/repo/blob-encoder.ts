import { BlobCompressor, type CompressionMode } from './compression.js';
import { BOX_OVERHEAD, seal, sealInto } from './crypto.js';

/** A blob made ready for a pack: compressed when it pays, then encrypted. */
export interface EncodedBlob {
  readonly box: Buffer;
  readonly compressed: boolean;
}

/**
 * Compression + encryption of blobs, the CPU-heavy half of a backup, on the calling thread. Backups run it on the
 * ingest threads (snapshot/ingest); the repository uses it for trees and for blobs saved directly.
 */
export class BlobEncoder {
  readonly #key: Buffer;
  readonly #compressor: BlobCompressor;
  constructor(encKey: Buffer, mode: CompressionMode) {
    this.#key = encKey;
    this.#compressor = new BlobCompressor(mode);
  }
  /**
   * `into`, when given, supplies the box's buffer for a box of n bytes (at least n long; the box is its first n
   * bytes). Without it the box gets a buffer of its own.
   */
  encode(plain: Buffer, into?: (n: number) => Buffer): EncodedBlob {
    const c = this.#compressor.compress(plain);
    const data = c ?? plain;
    if (!into) return { box: seal(this.#key, data), compressed: c !== null };
    const buf = into(BOX_OVERHEAD + data.length);
    return { box: buf.subarray(0, sealInto(this.#key, data, buf)), compressed: c !== null };
  }
}
