// Walking, comparing and hashing folder trees (dataset checks and restore verification).
import { createHash } from 'node:crypto';
import { createReadStream, lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Relative path → size in bytes, or -1 for a folder. */
export type Tree = Map<string, number>;

export function walk(root: string): Tree {
  const tree: Tree = new Map();
  const stack = [''];
  while (stack.length > 0) {
    const rel = stack.pop() as string;
    for (const entry of readdirSync(join(root, rel), { withFileTypes: true })) {
      const child = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        tree.set(child, -1);
        stack.push(child);
      } else {
        tree.set(child, lstatSync(join(root, child)).size);
      }
    }
  }
  return tree;
}

export function totals(tree: Tree): { files: number; dirs: number; bytes: number } {
  let files = 0;
  let dirs = 0;
  let bytes = 0;
  for (const size of tree.values()) {
    if (size < 0) dirs++;
    else {
      files++;
      bytes += size;
    }
  }
  return { files, dirs, bytes };
}

/** Up to `max` human-readable differences between two trees (empty when equal). */
export function diffTrees(expected: Tree, actual: Tree, max = 10): string[] {
  const out: string[] = [];
  for (const [rel, size] of expected) {
    if (out.length >= max) return out;
    const got = actual.get(rel);
    if (got === undefined) out.push(`missing: ${rel}`);
    else if (got !== size) out.push(`size differs: ${rel} (expected ${size}, got ${got})`);
  }
  for (const rel of actual.keys()) {
    if (out.length >= max) return out;
    if (!expected.has(rel)) out.push(`unexpected: ${rel}`);
  }
  return out;
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** A deterministic sample: the three largest files plus ~`count` files spread over the sorted list. */
export function sampleFiles(tree: Tree, count = 24): string[] {
  const files = [...tree].filter(([, size]) => size >= 0).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const largest = [...files].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([rel]) => rel);
  const step = Math.max(1, Math.floor(files.length / count));
  const spread = files.filter((_, i) => i % step === 0).map(([rel]) => rel);
  return [...new Set([...largest, ...spread])];
}

/**
 * Check that `restored` holds the same tree as `expected` (paths, sizes, and
 * sha256 of sampled files). Returns a short description; throws on mismatch.
 */
export async function verifyTree(expected: string, restored: string): Promise<string> {
  const want = walk(expected);
  const got = walk(restored);
  const diffs = diffTrees(want, got);
  if (diffs.length > 0) throw new Error(`restored tree differs from dataset:\n  ${diffs.join('\n  ')}`);
  const sample = sampleFiles(want);
  for (const rel of sample) {
    const [a, b] = await Promise.all([sha256File(join(expected, rel)), sha256File(join(restored, rel))]);
    if (a !== b) throw new Error(`restored file content differs: ${rel} (sha256 ${a} vs ${b})`);
  }
  const t = totals(want);
  return `${t.files} files, ${t.dirs} folders, ${t.bytes} bytes equal; sha256 of ${sample.length} sampled files equal`;
}
