import type { BlobLoader, BlobSaver, SaveResult } from './repository.js';

export type NodeType = 'file' | 'dir' | 'symlink' | 'fifo' | 'socket' | 'chardev' | 'blockdev';

/** One entry of a directory listing (format §8.1). */
export interface TreeNode {
  name: string;
  type: NodeType;
  mode: number;
  uid: number;
  gid: number;
  /** nanoseconds since the epoch, decimal */
  mtime: string;
  ctime: string;
  inode: number;
  dev: number;
  nlink: number;
  size: number;
  content?: string[];
  subtree?: string;
  target?: string;
  rdev?: number;
}

export interface Tree {
  nodes: TreeNode[];
}

/** Byte-order comparison of names, so equal directories serialise identically everywhere. */
export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/**
 * Two trees' nodes (each sorted by name, as stored) side by side in name order: `[left, right]` for a name both
 * have, `[left, undefined]` for one only the left has, `[undefined, right]` for one only the right has.
 */
export function* alignNodes(left: readonly TreeNode[], right: readonly TreeNode[]): Generator<[TreeNode, TreeNode] | [TreeNode, undefined] | [undefined, TreeNode]> {
  let i = 0;
  let j = 0;
  while (i < left.length || j < right.length) {
    const x = left[i];
    const y = right[j];
    const c = x && y ? compareNames(x.name, y.name) : x ? -1 : 1;
    if (c < 0 && x) {
      yield [x, undefined];
      i++;
    } else if (c > 0 && y) {
      yield [undefined, y];
      j++;
    } else if (x && y) {
      yield [x, y];
      i++;
      j++;
    }
  }
}

export function encodeTree(nodes: TreeNode[]): Buffer {
  nodes.sort((x, y) => compareNames(x.name, y.name));
  return Buffer.from(JSON.stringify({ nodes }), 'utf8');
}

export async function saveTree(repo: BlobSaver, nodes: TreeNode[]): Promise<SaveResult> {
  return repo.saveBlob('tree', encodeTree(nodes));
}

export async function loadTree(repo: BlobLoader, id: string): Promise<Tree> {
  const tree = JSON.parse((await repo.loadBlob('tree', id)).toString('utf8')) as Tree;
  if (!Array.isArray(tree.nodes)) throw new Error(`tree ${id.slice(0, 8)} has no nodes`);
  return tree;
}

/** Every node below a tree, depth first, with its slash-separated path relative to the root. */
export async function* walkTree(repo: BlobLoader, treeId: string, prefix = ''): AsyncGenerator<{ path: string; node: TreeNode }> {
  const tree = await loadTree(repo, treeId);
  for (const node of tree.nodes) {
    const path = prefix === '' ? node.name : `${prefix}/${node.name}`;
    yield { path, node };
    if (node.type === 'dir' && node.subtree) yield* walkTree(repo, node.subtree, path);
  }
}

/** Safety check for names read from a tree: a crafted tree must not escape the restore target. */
export function isSafeName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\0');
}
