import { decompress as zstdDecompress } from 'zstd-napi';
import binding from 'zstd-napi/binding.js';

/** Compression policy of a repository (format §5.2). */
export type CompressionMode = 'off' | 'auto' | 'max';

const PROBE_BYTES = 64 * 1024;
const PROBE_MIN_SAVING = 0.1;
const KEEP_MIN_SAVING = 0.02;

/**
 * Decides per blob whether zstd pays and compresses it into a buffer it reuses (no allocation per blob: at 1 MiB a
 * blob, fresh output buffers are what fills a backup thread's memory). One instance per thread.
 */
export class BlobCompressor {
  readonly #mode: CompressionMode;
  readonly #level: number;
  readonly #cctx = new binding.CCtx();
  #out = Buffer.alloc(0);

  constructor(mode: CompressionMode) {
    this.#mode = mode;
    this.#level = mode === 'max' ? 19 : 1;
  }

  /**
   * The compressed bytes, or null when the blob should be stored raw. The result is a view into this compressor's
   * buffer: valid until its next call.
   */
  compress(plain: Uint8Array): Buffer | null {
    if (this.#mode === 'off' || plain.length < 64) return null;
    const bound = binding.compressBound(plain.length);
    if (this.#out.length < bound) this.#out = Buffer.allocUnsafeSlow(Math.max(bound, 64 * 1024));
    if (this.#mode === 'auto' && plain.length > PROBE_BYTES) {
      const n = this.#cctx.compress(this.#out, plain.subarray(0, PROBE_BYTES), 1);
      if (n > PROBE_BYTES * (1 - PROBE_MIN_SAVING)) return null;
    }
    const n = this.#cctx.compress(this.#out, plain, this.#level);
    return n <= plain.length * (1 - KEEP_MIN_SAVING) ? this.#out.subarray(0, n) : null;
  }
}

export function decompress(data: Uint8Array): Buffer {
  return zstdDecompress(data);
}

/**
 * Decompresses blobs into a buffer it reuses: a restore thread decodes blob after blob, and a fresh output buffer per
 * blob is garbage the thread would hold until its next collection. One instance per thread.
 */
export class BlobDecompressor {
  readonly #dctx = new binding.DCtx();
  #out = Buffer.alloc(0);

  /** The `rawLength` decompressed bytes, as a view into this decompressor's buffer: valid until its next call. */
  decompress(data: Uint8Array, rawLength: number): Buffer {
    if (this.#out.length < rawLength) this.#out = Buffer.allocUnsafeSlow(Math.max(rawLength, 64 * 1024));
    const n = this.#dctx.decompress(this.#out.subarray(0, rawLength), data);
    return this.#out.subarray(0, n);
  }
}
