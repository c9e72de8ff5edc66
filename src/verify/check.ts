import { objectId, packPath, shortId } from '../repo/ids.js';
import type { Repository } from '../repo/repository.js';
import { loadSnapshots, type SnapshotWithId } from '../repo/snapshot.js';
import { loadTree } from '../repo/tree.js';
import { BOX_OVERHEAD } from '../repo/crypto.js';
import { parsePackHeader } from '../repo/pack.js';
import { mapLimit } from '../util/concurrency.js';
import { errorMessage } from '../util/errors.js';
import { readLagRecords, type Lag } from '../storage/mirror.js';

export interface CheckOptions {
  /** Fraction of packs (0..1] whose every blob is downloaded, decrypted and verified; 0 = structure only. */
  readonly readData: number;
  readonly onProgress?: (phase: string, done: number, total: number) => void;
  /** Picks the read-data subset; defaults to Math.random. */
  readonly random?: () => number;
  /**
   * Instead of a random share: slice `n` of `t` (1-based), the packs whose id's first 32 bits are n-1 modulo t,
   * as restic's `--read-data-subset n/t`: checks that go through 1/t … t/t read every pack once.
   */
  readonly slice?: { readonly n: number; readonly t: number };
}

export interface CheckProblem {
  readonly kind: 'index' | 'pack' | 'snapshot' | 'tree' | 'blob';
  readonly id: string;
  readonly message: string;
  /** Snapshots that reference the damaged data. */
  readonly snapshots: string[];
}

export interface CheckReport {
  readonly problems: CheckProblem[];
  readonly warnings: string[];
  readonly snapshots: number;
  readonly packs: number;
  readonly packsRead: number;
  readonly blobsRead: number;
  /** Mirror targets recorded as missing writes (`lag/` records): they need `safepoint sync`. */
  readonly lagging: Lag[];
}

const HEADER_ENTRY = 42;

/** Verifies structure (index ↔ packs, snapshots → trees → blobs) and optionally every byte of the data. */
export async function checkRepository(repo: Repository, o: CheckOptions): Promise<CheckReport> {
  const problems: CheckProblem[] = [];
  const warnings: string[] = [];
  const damagedBlobs = new Map<string, string>(); // blob id → pack id

  // 1. index files
  const read = await repo.loadIndexFiles();
  const { files, damaged } = read;
  for (const d of damaged) problems.push({ kind: 'index', id: d.id, message: `index ${shortId(d.id)}: ${d.error}`, snapshots: [] });
  await repo.loadIndex({ force: true, from: read });

  // 2. packs: every indexed pack exists with the size its index implies; stray packs are only warned about
  const stored = new Map<string, number>();
  for await (const o2 of repo.storage.list('data/')) stored.set(o2.name.slice(o2.name.lastIndexOf('/') + 1), o2.size);
  const packs = [...repo.index.packs()];
  for (const p of packs) {
    const size = stored.get(p.id);
    const expected = p.blobs.reduce((n, b) => n + b.length, 0) + BOX_OVERHEAD + HEADER_ENTRY * p.blobs.length + 4;
    if (size === undefined) {
      problems.push({ kind: 'pack', id: p.id, message: `pack ${shortId(p.id)} is missing from the storage`, snapshots: [] });
      for (const b of p.blobs) damagedBlobs.set(b.id, p.id);
    } else if (size !== expected) {
      problems.push({ kind: 'pack', id: p.id, message: `pack ${shortId(p.id)} has ${size} bytes, its index says ${expected}`, snapshots: [] });
      for (const b of p.blobs) damagedBlobs.set(b.id, p.id);
    }
  }
  const unreferenced = [...stored.keys()].filter((id) => !repo.index.pack(id));
  if (unreferenced.length > 0) warnings.push(`${unreferenced.length} packs are not in any index (left by an interrupted backup or prune; \`safepoint prune\` removes them)`);
  if (files.length === 0 && packs.length > 0) warnings.push('no readable index file');

  // 3. snapshots and trees: everything reachable must be indexed
  const snapshots = await loadSnapshots(repo, {}, (id, err) => problems.push({ kind: 'snapshot', id, message: `snapshot ${shortId(id)}: ${errorMessage(err)}`, snapshots: [id] }));
  const seenTrees = new Set<string>();
  const brokenTrees = new Set<string>();
  const walk = async (treeId: string, sn: SnapshotWithId, path: string): Promise<void> => {
    if (seenTrees.has(treeId)) return;
    seenTrees.add(treeId);
    let tree;
    try {
      tree = await loadTree(repo, treeId);
    } catch (err) {
      brokenTrees.add(treeId);
      problems.push({ kind: 'tree', id: treeId, message: `tree ${shortId(treeId)} (${path || '/'}) cannot be loaded: ${errorMessage(err)}`, snapshots: [sn.id] });
      return;
    }
    for (const n of tree.nodes) {
      const p = path ? `${path}/${n.name}` : n.name;
      if (n.type === 'dir' && n.subtree) await walk(n.subtree, sn, p);
      for (const id of n.content ?? []) {
        if (!repo.hasBlob(id)) problems.push({ kind: 'blob', id, message: `data blob ${shortId(id)} of ${p} is not in the index`, snapshots: [sn.id] });
      }
    }
  };
  let done = 0;
  for (const sn of snapshots) {
    await walk(sn.tree, sn, '');
    o.onProgress?.('snapshots', ++done, snapshots.length);
  }

  // 4. read data: download packs, check their names (SHA-256), headers and every blob
  let packsRead = 0;
  let blobsRead = 0;
  if (o.readData > 0 || o.slice) {
    const rnd = o.random ?? Math.random;
    const slice = o.slice;
    const chosen = slice ? packs.filter((p) => parseInt(p.id.slice(0, 8), 16) % slice.t === slice.n - 1) : o.readData >= 1 ? packs : packs.filter(() => rnd() < o.readData);
    if (!slice && chosen.length === 0 && packs.length > 0 && o.readData > 0) chosen.push(packs[Math.floor(rnd() * packs.length)]!);
    let n = 0;
    await mapLimit(chosen, 4, async (p) => {
      if (!stored.has(p.id)) return;
      const fail = (msg: string, blobs = p.blobs.map((b) => b.id)): void => {
        problems.push({ kind: 'pack', id: p.id, message: `pack ${shortId(p.id)}: ${msg}`, snapshots: [] });
        for (const b of blobs) damagedBlobs.set(b, p.id);
      };
      let bytes: Buffer;
      try {
        bytes = await repo.storage.get(packPath(p.id));
      } catch (err) {
        fail(`cannot be read: ${errorMessage(err)}`);
        return;
      }
      packsRead++;
      if (objectId(bytes) !== p.id) fail('content does not match its name (changed or damaged in storage)', []);
      try {
        const header = parsePackHeader(repo.key.encKey, bytes, bytes.length, p.id);
        if (header.length !== p.blobs.length || header.some((h, i) => h.id !== p.blobs[i]?.id || h.offset !== p.blobs[i]?.offset)) fail('header does not match the index', []);
      } catch (err) {
        fail(`header: ${errorMessage(err)}`, []);
      }
      for (const b of p.blobs) {
        try {
          repo.decodeBlob(b.id, { pack: p.id, ...b }, bytes.subarray(b.offset, b.offset + b.length));
          blobsRead++;
        } catch (err) {
          fail(`${b.type} blob ${shortId(b.id)} at offset ${b.offset}: ${errorMessage(err)}`, [b.id]);
        }
      }
      o.onProgress?.('read-data', ++n, chosen.length);
    });
  }

  // 5. which snapshots do damaged blobs and trees hurt?
  if (damagedBlobs.size > 0 || brokenTrees.size > 0) {
    const affected = await affectedSnapshots(repo, snapshots, new Set([...damagedBlobs.keys(), ...brokenTrees]));
    for (const pr of problems) {
      if (pr.kind !== 'pack') continue;
      const hurt = new Set<string>();
      for (const [blob, pack] of damagedBlobs) if (pack === pr.id) for (const s of affected.get(blob) ?? []) hurt.add(s);
      pr.snapshots.push(...hurt);
    }
  }
  return { problems, warnings, snapshots: snapshots.length, packs: packs.length, packsRead, blobsRead, lagging: await readLagRecords(repo.storage) };
}

/** blob id → snapshots whose trees reference it (walks each snapshot, skipping nothing). */
async function affectedSnapshots(repo: Repository, snapshots: readonly SnapshotWithId[], bad: Set<string>): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const sn of snapshots) {
    const hit = new Set<string>();
    const visit = async (treeId: string): Promise<void> => {
      if (bad.has(treeId)) hit.add(treeId);
      let tree;
      try {
        tree = await loadTree(repo, treeId);
      } catch {
        return;
      }
      for (const n of tree.nodes) {
        if (n.subtree) await visit(n.subtree);
        for (const id of n.content ?? []) if (bad.has(id)) hit.add(id);
      }
    };
    await visit(sn.tree);
    for (const id of hit) out.set(id, [...(out.get(id) ?? []), sn.id]);
  }
  return out;
}
