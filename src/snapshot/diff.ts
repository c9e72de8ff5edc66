import { lstat, open, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { chunkFileViews, type ChunkerParams } from '../repo/chunker.js';
import type { BlobLoader } from '../repo/repository.js';
import { alignNodes, compareNames, loadTree, type TreeNode } from '../repo/tree.js';

/** `+` added, `-` removed, `M` content changed, `T` type changed, `U` metadata only (mode, owner, mtime). */
export type ChangeKind = '+' | '-' | 'M' | 'T' | 'U';

export interface Change {
  readonly path: string;
  readonly kind: ChangeKind;
  readonly type: string;
}

/** Differences between two snapshot trees; identical subtrees (same id) are skipped without loading. */
export async function* diffTrees(repo: BlobLoader, a: string | undefined, b: string | undefined, prefix = ''): AsyncGenerator<Change> {
  if (a === b) return;
  const left = a ? (await loadTree(repo, a)).nodes : [];
  const right = b ? (await loadTree(repo, b)).nodes : [];
  yield* mergeNodes(left, right, prefix, async function* (x, y, path) {
    if (x.type === 'dir' && y.type === 'dir') {
      if (metaDiffers(x, y)) yield { path, kind: 'U', type: 'dir' };
      yield* diffTrees(repo, x.subtree, y.subtree, path);
    } else yield* compareLeaves(x, y, path);
  }, (n, path, kind) => allUnder(repo, n, path, kind));
}

async function* mergeNodes(
  left: readonly TreeNode[],
  right: readonly TreeNode[],
  prefix: string,
  both: (x: TreeNode, y: TreeNode, path: string) => AsyncGenerator<Change>,
  expand: (n: TreeNode, path: string, kind: '+' | '-') => AsyncGenerator<Change>,
): AsyncGenerator<Change> {
  for (const [x, y] of alignNodes(left, right)) {
    if (x && y) yield* both(x, y, join2(prefix, x.name));
    else if (x) yield* expand(x, join2(prefix, x.name), '-');
    else if (y) yield* expand(y, join2(prefix, y.name), '+');
  }
}

async function* allUnder(repo: BlobLoader, n: TreeNode, path: string, kind: '+' | '-'): AsyncGenerator<Change> {
  yield { path, kind, type: n.type };
  if (n.type === 'dir' && n.subtree) {
    for (const c of (await loadTree(repo, n.subtree)).nodes) yield* allUnder(repo, c, join2(path, c.name), kind);
  }
}

async function* compareLeaves(x: TreeNode, y: TreeNode, path: string): AsyncGenerator<Change> {
  if (x.type !== y.type) yield { path, kind: 'T', type: y.type };
  else if (x.type === 'file' && (x.size !== y.size || (x.content ?? []).join() !== (y.content ?? []).join())) yield { path, kind: 'M', type: 'file' };
  else if (x.type === 'symlink' && x.target !== y.target) yield { path, kind: 'M', type: 'symlink' };
  else if (metaDiffers(x, y)) yield { path, kind: 'U', type: x.type };
}

function metaDiffers(x: TreeNode, y: TreeNode): boolean {
  return x.mode !== y.mode || x.uid !== y.uid || x.gid !== y.gid || (x.type !== 'dir' && !sameTime(x.mtime, y.mtime));
}

/** Times are compared at microsecond resolution: that is what a restore can set (see nsToSeconds in util/small-files.ts). */
export function sameTime(a: string, b: string): boolean {
  return a === b || BigInt(a) / 1000n === BigInt(b) / 1000n;
}

const join2 = (prefix: string, name: string): string => (prefix === '' ? name : `${prefix}/${name}`);

export interface LiveDiffOptions {
  /** Compare file contents by re-chunking and hashing (default) or trust size and mtime. */
  readonly content: boolean;
  readonly gear: Uint32Array;
  readonly chunkerParams: ChunkerParams;
  readonly blobId: (plain: Uint8Array) => string;
}

/** Differences between a snapshot tree and the live file system at `dir` (what changed on disk since). */
export async function* diffLive(repo: BlobLoader, treeId: string | undefined, dir: string, o: LiveDiffOptions, prefix = ''): AsyncGenerator<Change> {
  const left = treeId ? (await loadTree(repo, treeId)).nodes : [];
  const names = await readdir(dir).catch(() => [] as string[]);
  const right: TreeNode[] = [];
  for (const name of names) {
    const st = await lstat(join(dir, name), { bigint: true }).catch(() => null);
    if (!st) continue;
    const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFIFO() ? 'fifo' : st.isSocket() ? 'socket' : st.isCharacterDevice() ? 'chardev' : 'blockdev';
    right.push({ name, type, mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid), mtime: st.mtimeNs.toString(), ctime: st.ctimeNs.toString(), inode: Number(st.ino), dev: Number(st.dev), nlink: Number(st.nlink), size: type === 'file' ? Number(st.size) : 0 });
  }
  right.sort((a, b) => compareNames(a.name, b.name));
  yield* mergeNodes(left, right, prefix, async function* (x, y, path) {
    const live = join(dir, y.name);
    if (x.type === 'dir' && y.type === 'dir') {
      if (metaDiffers(x, y)) yield { path, kind: 'U', type: 'dir' };
      yield* diffLive(repo, x.subtree, live, o, path);
      return;
    }
    if (x.type === 'file' && y.type === 'file' && x.size === y.size && (o.content || !sameTime(x.mtime, y.mtime))) {
      y.content = await contentIds(live, o).catch(() => []);
    } else if (x.type === 'file' && y.type === 'file' && x.size === y.size) {
      y.content = x.content; // quick mode, same size and mtime: assumed equal
    }
    if (y.type === 'symlink') y.target = await readlink(live).catch(() => '');
    yield* compareLeaves(x, y, path);
  }, async function* (n, path, kind) {
    if (kind === '-') {
      yield* allUnder(repo, n, path, '-');
      return;
    }
    yield { path, kind: '+', type: n.type };
    if (n.type === 'dir') yield* diffLive(repo, undefined, join(dir, n.name), o, path);
  });
}

async function contentIds(path: string, o: LiveDiffOptions): Promise<string[]> {
  const fh = await open(path, 'r');
  try {
    const ids: string[] = [];
    for await (const c of chunkFileViews(fh, o.gear, o.chunkerParams)) ids.push(o.blobId(c));
    return ids;
  } finally {
    await fh.close();
  }
}
