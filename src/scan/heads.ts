import { createHash } from 'node:crypto';
import type { BlobLoader } from '../repo/repository.js';
import { mapLimit } from '../util/concurrency.js';
import type { HeadPair } from './change-figures.js';
import { headStats, isCompressible, looksEncrypted, newCompressor, type HeadStats } from './entropy.js';
import { THRESHOLDS } from './thresholds.js';

/** What comparing the heads of changed files found. */
export interface HeadFigures {
  /** Pairs compared whose previous head compressed well. */
  readonly sampled: number;
  /** Paths (new names) of those whose head now looks encrypted. */
  readonly encrypted: readonly string[];
  readonly entropyBefore: number | null;
  readonly entropyAfter: number | null;
  readonly ratioBefore: number | null;
  readonly ratioAfter: number | null;
  readonly unreadable: number;
}

/** Reads first chunks (cached by blob id across the snapshots of a scan: today's "after" is tomorrow's "before"). */
export class HeadReader {
  readonly #repo: BlobLoader;
  readonly #cache = new Map<string, HeadStats | null>();
  readonly #compressor = newCompressor();

  constructor(repo: BlobLoader) {
    this.#repo = repo;
  }

  /** Stats of the head of the file whose first blob is `id`; null when it cannot be read. */
  async stats(id: string): Promise<HeadStats | null> {
    const known = this.#cache.get(id);
    if (known !== undefined) return known;
    let s: HeadStats | null;
    try {
      s = headStats(await this.#repo.loadBlob('data', id), this.#compressor);
    } catch {
      s = null;
    }
    this.#cache.set(id, s);
    return s;
  }

  /**
   * Compares the heads of at most THRESHOLDS.heads.sample pairs, chosen by a hash of their path so the choice is the
   * same on every run and spread over the folders.
   */
  async compare(pairs: readonly HeadPair[]): Promise<HeadFigures> {
    const { minBytes, sample } = THRESHOLDS.heads;
    const usable = pairs.filter((p) => p.before.size >= minBytes && p.after.size >= minBytes && p.before.content?.[0] && p.after.content?.[0]);
    const chosen = usable.map((p) => ({ p, key: createHash('sha256').update(p.path).digest('hex') })).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).slice(0, sample).map((x) => x.p);
    const results = await mapLimit(chosen, 8, async (p) => {
      const before = await this.stats(p.before.content![0]!);
      const after = await this.stats(p.after.content![0]!);
      return { p, before, after };
    });
    let sampled = 0;
    let unreadable = 0;
    const turned: { path: string; before: HeadStats; after: HeadStats }[] = [];
    for (const { p, before, after } of results) {
      if (!before || !after) {
        unreadable++;
        continue;
      }
      if (!isCompressible(before) || looksEncrypted(before)) continue;
      sampled++;
      if (looksEncrypted(after)) turned.push({ path: p.path, before, after });
    }
    const mean = (f: (t: (typeof turned)[number]) => number): number | null => (turned.length === 0 ? null : turned.reduce((s, t) => s + f(t), 0) / turned.length);
    return {
      sampled,
      encrypted: turned.map((t) => t.path),
      entropyBefore: mean((t) => t.before.entropy),
      entropyAfter: mean((t) => t.after.entropy),
      ratioBefore: mean((t) => t.before.ratio),
      ratioAfter: mean((t) => t.after.ratio),
      unreadable,
    };
  }
}
