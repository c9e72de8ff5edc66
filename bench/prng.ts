// Deterministic randomness for the benchmark: a small seeded PRNG for
// decisions and text, and an AES-256-CTR keystream for incompressible bytes.
import { createCipheriv, createHash } from 'node:crypto';
import type { Cipher } from 'node:crypto';

/** 32-bit seed derived from a label (stable across runs and machines). */
export function seedOf(label: string): number {
  return createHash('sha256').update(label).digest().readUInt32LE(0);
}

/** splitmix32: tiny, fast, good enough for synthetic data. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed | 0;
  }

  static of(label: string): Rng {
    return new Rng(seedOf(label));
  }

  /** Uniform 32-bit unsigned integer. */
  u32(): number {
    let z = (this.state = (this.state + 0x9e3779b9) | 0);
    z ^= z >>> 16;
    z = Math.imul(z, 0x21f0aaad);
    z ^= z >>> 15;
    z = Math.imul(z, 0x735a2d97);
    z ^= z >>> 15;
    return z >>> 0;
  }

  /** Uniform float in [0, 1). */
  float(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform integer in [lo, hi] (inclusive). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.float() * (hi - lo + 1));
  }

  /** Log-uniform integer in [lo, hi]: many small values, a few large ones. */
  logInt(lo: number, hi: number): number {
    return Math.round(lo * Math.pow(hi / lo, this.float()));
  }

  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.float() * items.length)];
    if (item === undefined) throw new Error('pick from empty list');
    return item;
  }

  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(this.float() * (i + 1));
      const a = items[i] as T;
      items[i] = items[j] as T;
      items[j] = a;
    }
    return items;
  }
}

const KEY = createHash('sha256').update('safepoint-bench-keystream-v1').digest();
const ZEROS = Buffer.alloc(4 << 20);

/** Incompressible, deterministic bytes: AES-256-CTR keystream over zeros. */
export class RandomStream {
  private readonly cipher: Cipher;

  constructor(label: string) {
    const iv = createHash('sha256').update(label).digest().subarray(0, 16);
    this.cipher = createCipheriv('aes-256-ctr', KEY, iv);
  }

  /** Next n bytes (n <= 4 MiB). */
  next(n: number): Buffer {
    return this.cipher.update(ZEROS.subarray(0, n));
  }
}
