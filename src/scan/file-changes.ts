import type { BlobLoader } from '../repo/repository.js';
import { alignNodes, loadTree, type TreeNode } from '../repo/tree.js';

/**
 * One regular file that differs between two snapshot trees, with its nodes (the scan needs contents and modes, which
 * snapshot/diff.ts does not carry). `changed`: other content; `mode`: same content, other permissions.
 */
export type FileChange =
  | { readonly kind: 'added'; readonly path: string; readonly after: TreeNode }
  /** `withFolder`: the file's folder is gone too (a folder removed), rather than emptied while it stays. */
  | { readonly kind: 'deleted'; readonly path: string; readonly before: TreeNode; readonly withFolder: boolean }
  | { readonly kind: 'changed' | 'mode'; readonly path: string; readonly before: TreeNode; readonly after: TreeNode };

/** Regular files that differ between trees `a` and `b`; identical subtrees (same id) are skipped without loading. */
export async function* fileChanges(repo: BlobLoader, a: string | undefined, b: string | undefined, prefix = ''): AsyncGenerator<FileChange> {
  if (a === b) return;
  const left = a ? (await loadTree(repo, a)).nodes : [];
  const right = b ? (await loadTree(repo, b)).nodes : [];
  for (const [x, y] of alignNodes(left, right)) {
    if (x && !y) yield* gone(repo, x, join(prefix, x.name), false);
    else if (y && !x) yield* come(repo, y, join(prefix, y.name));
    else if (x && y) {
      const path = join(prefix, x.name);
      if (x.type === 'dir' && y.type === 'dir') yield* fileChanges(repo, x.subtree, y.subtree, path);
      else if (x.type === 'file' && y.type === 'file') {
        if (x.size !== y.size || (x.content ?? []).join() !== (y.content ?? []).join()) yield { kind: 'changed', path, before: x, after: y };
        else if (x.mode !== y.mode) yield { kind: 'mode', path, before: x, after: y };
      } else {
        yield* gone(repo, x, path, false);
        yield* come(repo, y, path);
      }
    }
  }
}

async function* gone(repo: BlobLoader, n: TreeNode, path: string, withFolder: boolean): AsyncGenerator<FileChange> {
  if (n.type === 'file') yield { kind: 'deleted', path, before: n, withFolder };
  else if (n.type === 'dir' && n.subtree) {
    for (const c of (await loadTree(repo, n.subtree)).nodes) yield* gone(repo, c, join(path, c.name), true);
  }
}

async function* come(repo: BlobLoader, n: TreeNode, path: string): AsyncGenerator<FileChange> {
  if (n.type === 'file') yield { kind: 'added', path, after: n };
  else if (n.type === 'dir' && n.subtree) {
    for (const c of (await loadTree(repo, n.subtree)).nodes) yield* come(repo, c, join(path, c.name));
  }
}

/** Every regular file of a tree (the first snapshot of a source: its files are "added" to nothing). */
export function allFiles(repo: BlobLoader, tree: string): AsyncGenerator<FileChange> {
  return fileChanges(repo, undefined, tree);
}

const join = (prefix: string, name: string): string => (prefix === '' ? name : `${prefix}/${name}`);

/** The key under which identical contents meet: blob ids and size (empty files have no identity). */
export function contentKey(n: TreeNode): string | null {
  return n.size === 0 || !n.content || n.content.length === 0 ? null : `${n.size}:${n.content.join(',')}`;
}

export const baseName = (path: string): string => path.slice(path.lastIndexOf('/') + 1);
export const dirName = (path: string): string => path.slice(0, Math.max(0, path.lastIndexOf('/')));
