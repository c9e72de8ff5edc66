import { Compressor, decompress as zstdDecompress } from 'zstd-napi';

/** Compression policy of a repository (format §5.2). */
export type CompressionMode = 'off' | 'auto' | 'max';

const PROBE_BYTES = 64 * 1024;
const PROBE_MIN_SAVING = 0.1;
const KEEP_MIN_SAVING = 0.02;

/** Decides per blob whether zstd pays and compresses it. One instance per thread (it holds zstd contexts). */
export class BlobCompressor {
  readonly #mode: CompressionMode;
  readonly #probe = new Compressor();
  readonly #main = new Compressor();

  constructor(mode: CompressionMode) {
    this.#mode = mode;
    this.#probe.setParameters({ compressionLevel: 1 });
    this.#main.setParameters({ compressionLevel: mode === 'max' ? 19 : 1 });
  }

  /** Returns the compressed bytes, or null when the blob should be stored raw. */
  compress(plain: Uint8Array): Buffer | null {
    if (this.#mode === 'off' || plain.length < 64) return null;
    if (this.#mode === 'auto' && plain.length > PROBE_BYTES) {
      const probe = this.#probe.compress(plain.subarray(0, PROBE_BYTES));
      if (probe.length > PROBE_BYTES * (1 - PROBE_MIN_SAVING)) return null;
    }
    const out = this.#main.compress(plain);
    return out.length <= plain.length * (1 - KEEP_MIN_SAVING) ? out : null;
  }
}

export function decompress(data: Uint8Array): Buffer {
  return zstdDecompress(data);
}
