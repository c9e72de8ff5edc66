import { mapLimit } from '../util/concurrency.js';
import type { Repository } from './repository.js';
import { loadSnapshots, saveSnapshot, type SnapshotWithId } from './snapshot.js';
import { loadTree, saveTree, type TreeNode } from './tree.js';

export interface CopyProgress {
  snapshot: string;
  blobsCopied: number;
  bytesCopied: number;
}

export interface CopyResult {
  /** Source snapshot id → the new snapshot id in the destination. */
  readonly copied: Map<string, string>;
  /** Source snapshots the destination already held a copy of. */
  readonly skipped: string[];
  readonly blobsCopied: number;
  readonly bytesCopied: number;
}

/**
 * Copies snapshots into another repository with its own keys. Blob ids are keyed hashes, so every blob is decrypted
 * and verified from the source and stored under the destination's id; trees are rewritten with the new ids (bottom
 * up) and the snapshot is recorded last, after its data is flushed, so an interrupted copy leaves no snapshot that
 * points at missing data. A snapshot already copied (a destination snapshot whose `original` is its id) is skipped,
 * so a copy can be repeated to keep a second repository up to date.
 */
export async function copySnapshots(src: Repository, dst: Repository, snapshots: readonly SnapshotWithId[], onProgress?: (p: CopyProgress) => void): Promise<CopyResult> {
  await Promise.all([src.loadIndex(), dst.loadIndex()]);
  const already = new Map((await loadSnapshots(dst)).filter((s) => s.original).map((s) => [s.original!, s.id]));
  const blobMap = new Map<string, string>(); // source id → destination id, data and tree blobs alike
  const result: CopyResult = { copied: new Map(), skipped: [], blobsCopied: 0, bytesCopied: 0 };
  const counters = { blobsCopied: 0, bytesCopied: 0 };
  const copyBlob = async (type: 'data' | 'tree', id: string, plain?: Buffer): Promise<string> => {
    const known = blobMap.get(id);
    if (known) return known;
    const bytes = plain ?? (await src.loadBlob(type, id));
    const saved = await dst.saveBlob(type, bytes);
    if (!saved.known) {
      counters.blobsCopied++;
      counters.bytesCopied += bytes.length;
    }
    blobMap.set(id, saved.id);
    return saved.id;
  };
  const copyTree = async (treeId: string, snapshot: string): Promise<string> => {
    const known = blobMap.get(treeId);
    if (known) return known;
    const tree = await loadTree(src, treeId);
    const nodes: TreeNode[] = [];
    for (const node of tree.nodes) {
      const n: TreeNode = { ...node };
      if (node.content) n.content = await mapLimit(node.content, 4, (id) => copyBlob('data', id));
      if (node.subtree) n.subtree = await copyTree(node.subtree, snapshot);
      nodes.push(n);
    }
    onProgress?.({ snapshot, ...counters });
    const saved = await saveTree(dst, nodes);
    blobMap.set(treeId, saved.id);
    return saved.id;
  };
  for (const sn of snapshots) {
    const existing = already.get(sn.id);
    if (existing) {
      result.skipped.push(sn.id);
      result.copied.set(sn.id, existing);
      continue;
    }
    const tree = await copyTree(sn.tree, sn.id);
    await dst.flush(); // data and index first: the snapshot must never point at what is not stored
    const { id: srcId, ...body } = sn;
    const parent = sn.parent ? (result.copied.get(sn.parent) ?? already.get(sn.parent) ?? null) : null;
    const newId = await saveSnapshot(dst, { ...body, tree, parent, original: srcId });
    result.copied.set(srcId, newId);
    already.set(srcId, newId);
  }
  return { ...result, ...counters };
}
