import { loadSnapshots } from './snapshot.js';
import type { Repository } from './repository.js';
import { walkTree } from './tree.js';

export interface RepositoryStats {
  snapshots: number;
  packs: number;
  blobs: number;
  tree_blobs: number;
  stored_size: number;
  raw_size: number;
  total_file_count: number;
  total_size: number;
}

/** Sizes as stored, as unique raw data, and as restored (the sum over every snapshot). */
export async function repositoryStats(repo: Repository): Promise<RepositoryStats> {
  await repo.loadIndex();
  const s: RepositoryStats = { snapshots: 0, packs: repo.index.packCount, blobs: 0, tree_blobs: 0, stored_size: 0, raw_size: 0, total_file_count: 0, total_size: 0 };
  for (const p of repo.index.packs()) {
    for (const b of p.blobs) {
      s.blobs++;
      if (b.type === 'tree') s.tree_blobs++;
      s.stored_size += b.length;
      s.raw_size += b.rawLength;
    }
  }
  for (const sn of await loadSnapshots(repo)) {
    s.snapshots++;
    for await (const { node } of walkTree(repo, sn.tree)) {
      if (node.type !== 'file') continue;
      s.total_file_count++;
      s.total_size += node.size;
    }
  }
  return s;
}
