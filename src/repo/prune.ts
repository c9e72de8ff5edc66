import { objectId, objectPath, packPath, shortId } from './ids.js';
import { removeUnlessLocked } from './object-lock.js';
import type { PackEntry } from './index-file.js';
import type { Repository } from './repository.js';
import { loadSnapshots } from './snapshot.js';
import { loadTree } from './tree.js';
import { IntegrityError, errorMessage } from '../util/errors.js';

export interface PruneOptions {
  /** Repack packs whose unused share exceeds this fraction (default 0.05). */
  readonly maxUnused?: number;
  readonly dryRun?: boolean;
  readonly onProgress?: (phase: string, done: number, total: number) => void;
}

export interface PrunePlan {
  readonly packsTotal: number;
  readonly remove: string[];
  readonly repack: string[];
  readonly strays: string[];
  readonly bytesFreed: number;
  readonly blobsRepacked: number;
  readonly indexFiles: number;
  /** Temporary files of interrupted writers removed (not counted in a dry run). */
  temporaries: number;
  /** Objects left in place because a target holds them under Object Lock retention, and the latest such date. */
  locked: number;
  lockedUntil?: Date;
}

const SMALL_PACK = 1024 * 1024;

/**
 * Removes data no snapshot references (format §10). Call under the exclusive lock. Order: new packs → new index
 * superseding the old ones → remove old index files → remove packs. A crash at any point leaves a repository
 * whose every snapshot is readable.
 */
export async function prune(repo: Repository, o: PruneOptions = {}): Promise<PrunePlan> {
  const maxUnused = o.maxUnused ?? 0.05;
  const read = await repo.loadIndexFiles();
  const { files, damaged } = read;
  if (damaged.length > 0) throw new IntegrityError(`index ${shortId(damaged[0]!.id)} is damaged: run \`safepoint repair index\` before prune`);
  await repo.loadIndex({ force: true, from: read });

  // 1. mark every blob reachable from a snapshot
  const used = new Set<string>();
  const snapshots = await loadSnapshots(repo);
  const visit = async (treeId: string): Promise<void> => {
    if (used.has(treeId)) return;
    used.add(treeId);
    let tree;
    try {
      tree = await loadTree(repo, treeId);
    } catch (err) {
      throw new IntegrityError(`tree ${shortId(treeId)} cannot be read (${errorMessage(err)}): prune refuses to run on a damaged repository; run \`safepoint check\``, { cause: err });
    }
    for (const n of tree.nodes) {
      if (n.subtree) await visit(n.subtree);
      for (const id of n.content ?? []) {
        if (!repo.hasBlob(id)) throw new IntegrityError(`data blob ${shortId(id)} is missing: prune refuses to run on a damaged repository; run \`safepoint check\``);
        used.add(id);
      }
    }
  };
  let n = 0;
  for (const sn of snapshots) {
    await visit(sn.tree);
    o.onProgress?.('mark', ++n, snapshots.length);
  }

  // 2. classify packs; a blob stored twice keeps its first copy only
  const owner = new Map<string, string>(); // blob → the pack whose copy is kept
  const remove: string[] = [];
  const repack: PackEntry[] = [];
  const keep: PackEntry[] = [];
  let bytesFreed = 0;
  const small: PackEntry[] = [];
  for (const p of repo.index.packs()) {
    let usedBytes = 0;
    let unusedBytes = 0;
    for (const b of p.blobs) {
      if (used.has(b.id) && !owner.has(b.id)) {
        owner.set(b.id, p.id);
        usedBytes += b.length;
      } else unusedBytes += b.length;
    }
    const total = usedBytes + unusedBytes;
    if (usedBytes === 0) {
      remove.push(p.id);
      bytesFreed += total;
    } else if (unusedBytes / total > maxUnused) {
      repack.push(p);
      bytesFreed += unusedBytes;
    } else if (total < SMALL_PACK) small.push(p);
    else keep.push(p);
  }
  // small packs are merged when there are several of them
  if (small.length > 1) repack.push(...small);
  else keep.push(...small);

  const strays: string[] = [];
  for await (const id of repo.listIds('data')) if (!repo.index.pack(id)) strays.push(id);

  const plan: PrunePlan = {
    packsTotal: repo.index.packCount,
    remove,
    repack: repack.map((p) => p.id),
    strays,
    bytesFreed,
    blobsRepacked: repack.reduce((s, p) => s + p.blobs.filter((b) => owner.get(b.id) === p.id).length, 0),
    indexFiles: files.length,
    temporaries: 0,
    locked: 0,
  };
  if (o.dryRun) return plan;

  // packs no index names and temporary files of killed writers go first: nothing references them, and on a full
  // disk this is what makes room for the rest
  const strayRemoval = await removeUnlessLocked(repo.storage, strays.map(packPath));
  plan.locked = strayRemoval.kept.length;
  plan.temporaries = (await repo.storage.removeTemporaries?.(new Date())) ?? 0;
  if (remove.length === 0 && repack.length === 0) return plan;

  // 3. copy the live blobs of repacked packs (encrypted boxes move as they are)
  n = 0;
  for (const p of repack) {
    // the copy moved must be intact: a pack is named by its hash, so a mirror reads the next target when this
    // one's copy is damaged, and a damaged pack with no intact copy stops prune before anything is deleted
    const intact = (data: Buffer): void => {
      if (objectId(data) !== p.id) throw new IntegrityError(`pack ${shortId(p.id)} is damaged (its content does not match its name): prune refuses to repack it; run \`safepoint check --read-data\``);
    };
    const bytes = await repo.storage.get(packPath(p.id), { validate: intact });
    intact(bytes);
    for (const b of p.blobs) {
      if (owner.get(b.id) !== p.id) continue;
      await repo.saveRawBlob(b.type, b.id, bytes.subarray(b.offset, b.offset + b.length), b.rawLength, b.compressed);
    }
    o.onProgress?.('repack', ++n, repack.length);
  }
  const newPacks = await repo.flushPacks();

  // 4. one index for everything that stays, superseding every old index file; then delete
  await repo.writeIndex([...keep, ...newPacks], files.map((f) => f.id));
  await removeUnlessLocked(repo.storage, files.map((f) => objectPath('index', f.id)));
  const doomed = [...remove, ...repack.map((p) => p.id)];
  n = 0;
  // packs still under Object Lock retention stay; unindexed now, a later prune removes them when their date passed
  const removal = await removeUnlessLocked(repo.storage, doomed.map(packPath), new Date(), () => o.onProgress?.('delete', ++n, doomed.length));
  plan.locked += removal.kept.length;
  if (removal.until && (!plan.lockedUntil || removal.until > plan.lockedUntil)) plan.lockedUntil = removal.until;
  return plan;
}
