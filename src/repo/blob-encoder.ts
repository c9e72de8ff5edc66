import { BlobCompressor, type CompressionMode } from './compression.js';
import { seal } from './crypto.js';

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
  encode(plain: Buffer): EncodedBlob {
    const c = this.#compressor.compress(plain);
    return { box: seal(this.#key, c ?? plain), compressed: c !== null };
  }
}
