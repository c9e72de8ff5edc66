import { BlobCompressor } from '../repo/compression.js';
import { isContainer } from './indicators.js';
import { THRESHOLDS } from './thresholds.js';

/** Shannon entropy in bits per byte: 0 for a run of one byte, 8 for uniformly random bytes (minus sampling bias). */
export function shannonEntropy(b: Uint8Array): number {
  if (b.length === 0) return 0;
  const counts = new Uint32Array(256);
  for (let i = 0; i < b.length; i++) counts[b[i]!]!++;
  let h = 0;
  for (let i = 0; i < 256; i++) {
    const c = counts[i]!;
    if (c > 0) {
      const p = c / b.length;
      h -= p * Math.log2(p);
    }
  }
  return h;
}

/** What the first bytes of a file's first chunk look like. */
export interface HeadStats {
  /** Bytes judged (at most THRESHOLDS.heads.bytes). */
  readonly bytes: number;
  /** Entropy of the whole head, bits per byte. */
  readonly entropy: number;
  /** Highest entropy of its blocks (THRESHOLDS.heads.block; a last block shorter than minBytes is left out). */
  readonly maxBlockEntropy: number;
  /** Size after zstd (the repository's compressor, `auto` policy) over size; 1 when it does not shrink. */
  readonly ratio: number;
  /** Starts with the magic number of a compressed or image format (indicators.ts). */
  readonly container: boolean;
}

/** Entropy and compressibility of the head of `chunk`. One compressor per scan (it reuses its buffer). */
export function headStats(chunk: Uint8Array, compressor: BlobCompressor): HeadStats {
  const { bytes: size, block, minBytes } = THRESHOLDS.heads;
  const head = chunk.subarray(0, size);
  let maxBlockEntropy = 0;
  for (let at = 0; at < head.length; at += block) {
    const part = head.subarray(at, at + block);
    if (part.length < minBytes && at > 0) break;
    maxBlockEntropy = Math.max(maxBlockEntropy, shannonEntropy(part));
  }
  const packed = compressor.compress(head);
  return {
    bytes: head.length,
    entropy: shannonEntropy(head),
    maxBlockEntropy,
    ratio: head.length === 0 ? 1 : (packed?.length ?? head.length) / head.length,
    container: isContainer(head),
  };
}

/** The head compressed well: what text, JSON, CSV and source code look like. */
export function isCompressible(h: HeadStats): boolean {
  return h.bytes >= THRESHOLDS.heads.minBytes && h.ratio <= THRESHOLDS.heads.compressibleRatio;
}

/**
 * The head looks encrypted: one of its blocks is as random as ciphertext, and it is no compressed or image format.
 * Judging blocks rather than the whole head catches ransomware that encrypts only the first KiB.
 */
export function looksEncrypted(h: HeadStats): boolean {
  return h.bytes >= THRESHOLDS.heads.minBytes && !h.container && h.maxBlockEntropy >= THRESHOLDS.heads.encryptedEntropy;
}

export const newCompressor = (): BlobCompressor => new BlobCompressor('auto');
