import { lstat, readdir, readlink } from 'node:fs/promises';
import { lstatSync } from 'node:fs';
import { workerCount } from '../util/threads.js';
import type { BigIntStats } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { BlobLoader, BlobSaver } from '../repo/repository.js';
import { newSnapshot, type BackupType, type Snapshot, type SnapshotCounts } from '../repo/snapshot.js';
import { loadTree, saveTree, type NodeType, type TreeNode } from '../repo/tree.js';
import { mapLimit, Semaphore } from '../util/concurrency.js';
import { UserError, errorMessage, isErrno } from '../util/errors.js';
import type { Clock } from '../util/clock.js';
import { systemClock } from '../util/clock.js';
import type { Excluder } from './exclude.js';
import { IngestFailure, IngestPool, type IngestRepo } from './ingest/ingest-pool.js';

/** What the archiver needs from the repository. */
export type ArchiverRepo = BlobSaver &
  BlobLoader &
  IngestRepo & {
    flush(): Promise<void>;
    abort(): Promise<void>;
    saveJson(kind: 'snapshots', value: unknown): Promise<string>;
    /** False for a network target, where this thread runs the storage client (see IngestPool's `laneStays`). */
    readonly localTarget?: boolean;
  };

export interface BackupOptions {
  readonly paths: readonly string[];
  readonly excluder?: Excluder;
  readonly excludes?: readonly string[];
  readonly oneFileSystem?: boolean;
  readonly tags?: readonly string[];
  readonly source?: string | null;
  readonly host?: string;
  /** Parent snapshot: its files are reused when size, mtime, ctime and inode are unchanged. */
  readonly parent?: (Snapshot & { id: string }) | null;
  readonly type?: BackupType;
  /**
   * Reuse a parent's file only when its mtime (ns since the epoch) is before this: a file written during the parent's
   * backup, in the same clock tick as its read, may have changed again without its mtime moving. Database base
   * backups give the parent's start time minus a margin.
   */
  readonly reuseBefore?: bigint;
  /**
   * Called once the paths are saved: more root entries (made with saveStreamNode, counting into `counts`), e.g. what
   * a database hands over when its backup ends. Their names must not collide with the paths' base names.
   */
  readonly extraRoot?: (counts: SnapshotCounts) => Promise<TreeNode[]>;
  /** A file or folder removed while the backup runs is left out without a warning (a database drops files as it works). */
  readonly ignoreVanished?: boolean;
  /** Recorded on the snapshot (database base backups: what the restore needs). */
  readonly meta?: Record<string, unknown>;
  readonly clock?: Clock;
  readonly onProgress?: (p: ArchiveProgress) => void;
  readonly onWarning?: (path: string, message: string) => void;
}

export interface ArchiveProgress {
  files: number;
  dirs: number;
  bytes: number;
  bytesAdded: number;
  currentFile: string;
}

export interface BackupResult {
  readonly snapshotId: string;
  readonly snapshot: Snapshot;
}

/** Sub-folders of one folder walked at once. */
const SUBFOLDER_CONCURRENCY = 2;
const DIR_CONCURRENCY = 16;

/** Backs up paths into a snapshot. Unreadable entries become warnings and mark the snapshot incomplete. */
export async function backup(repo: ArchiverRepo, options: BackupOptions): Promise<BackupResult> {
  const clock = options.clock ?? systemClock;
  const start = clock.now();
  const paths = options.paths.map((p) => resolve(p));
  checkNames(paths);
  // made with the first file to read: an unchanged re-backup needs none. Into a local repository the main lane keeps
  // working next to one thread fewer than cores, as a restore's writers do: one isolate less (~30 MiB of peak RSS);
  // to a network target this thread also runs the storage client, and the threads work alone.
  const laneStays = repo.localTarget !== false;
  const threads = workerCount();
  const pool = new LazyPool(() => new IngestPool(repo, laneStays ? Math.max(0, threads - 1) : threads, undefined, laneStays));
  try {
    return await run(repo, options, paths, pool, clock, start);
  } catch (err) {
    await pool.close();
    await repo.abort().catch(() => undefined); // remove this backup's unindexed packs: nothing references them
    throw err;
  } finally {
    await pool.close();
  }
}

/** Creates the ingest pool on first use. */
class LazyPool {
  #pool: IngestPool | undefined;
  readonly #make: () => IngestPool;
  constructor(make: () => IngestPool) {
    this.#make = make;
  }
  get(): IngestPool {
    this.#pool ??= this.#make();
    return this.#pool;
  }
  get started(): IngestPool | null {
    return this.#pool ?? null;
  }
  async close(): Promise<void> {
    await this.#pool?.close();
  }
}

async function run(repo: ArchiverRepo, options: BackupOptions, paths: string[], lazy: LazyPool, clock: Clock, start: Date): Promise<BackupResult> {
  const a = new Archiver(repo, options, lazy);
  const parentRoot = options.parent ? byName((await loadTree(repo, options.parent.tree)).nodes) : new Map<string, TreeNode>();
  const rootNodes: TreeNode[] = [];
  for (const p of paths) {
    let st: BigIntStats;
    try {
      st = await lstat(p, { bigint: true });
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ENOTDIR')) throw new UserError(`path ${p} does not exist`, { cause: err });
      throw new UserError(`cannot read ${p}: ${errorMessage(err)}`, { cause: err });
    }
    const node = await a.saveEntry(p, basename(p) || '/', st, parentRoot.get(basename(p) || '/'), st.dev);
    if (node) rootNodes.push(node);
  }
  if (options.extraRoot) {
    const extra = await options.extraRoot(a.summary);
    const taken = new Set(rootNodes.map((n) => n.name));
    for (const n of extra) {
      if (taken.has(n.name)) throw new Error(`extra root entry ${n.name} collides with a backed-up path`);
      rootNodes.push(n);
    }
  }
  const root = await saveTree(repo, rootNodes);
  a.countTree(root.known, root.stored);
  const pool = lazy.started;
  if (pool) {
    await pool.drain();
    a.summary.data_blobs += pool.dataBlobs;
    a.summary.data_added += pool.dataAdded;
    await pool.close(); // before the last writes: the threads' memory goes first
  }
  await repo.flush();
  const snapshot = newSnapshot(
    {
      host: options.host,
      paths,
      tags: [...(options.tags ?? [])],
      source: options.source ?? null,
      type: options.type ?? (options.parent ? 'incremental' : 'full'),
      parent: options.parent?.id ?? null,
      tree: root.id,
      excludes: [...(options.excludes ?? [])],
      complete: a.warnings.length === 0,
      warnings: a.warnings,
      ...(options.meta ? { meta: options.meta } : {}),
    },
    a.summary,
    start,
    clock.now(),
  );
  const snapshotId = await repo.saveJson('snapshots', snapshot);
  return { snapshotId, snapshot };
}

type Counts = SnapshotCounts;

class Archiver {
  readonly warnings: string[] = [];
  readonly summary: Counts = {
    files_new: 0, files_changed: 0, files_unmodified: 0, dirs_new: 0, dirs_changed: 0, dirs_unmodified: 0,
    data_blobs: 0, tree_blobs: 0, data_added: 0, total_files_processed: 0, total_bytes_processed: 0,
  };
  readonly #repo: ArchiverRepo;
  readonly #opts: BackupOptions;
  readonly #dirs = new Semaphore(DIR_CONCURRENCY);
  readonly #progress: ArchiveProgress = { files: 0, dirs: 0, bytes: 0, bytesAdded: 0, currentFile: '' };

  readonly #pool: LazyPool;

  constructor(repo: ArchiverRepo, opts: BackupOptions, pool: LazyPool) {
    this.#repo = repo;
    this.#opts = opts;
    this.#pool = pool;
  }

  #warn(path: string, err: unknown): void {
    if (this.#opts.ignoreVanished && isErrno(err, 'ENOENT')) return;
    const message = isErrno(err, 'EACCES', 'EPERM') ? 'permission denied' : isErrno(err, 'ENOENT') ? 'vanished during backup' : errorMessage(err);
    this.warnings.push(`${path}: ${message}`);
    this.#opts.onWarning?.(path, message);
  }

  countTree(known: boolean, stored: number): void {
    if (!known) {
      this.summary.tree_blobs++;
      this.summary.data_added += stored;
    }
  }

  /** Saves one entry and returns its node, or null when it was skipped with a warning. */
  async saveEntry(path: string, name: string, st: BigIntStats, prev: TreeNode | undefined, rootDev: bigint): Promise<TreeNode | null> {
    const node = baseNode(name, st);
    switch (node.type) {
      case 'file':
        return this.#saveFile(path, node, prev);
      case 'dir':
        return this.#saveDir(path, node, prev, rootDev);
      case 'symlink':
        try {
          node.target = await readlink(path);
        } catch (err) {
          this.#warn(path, err);
          return null;
        }
        return node;
      default:
        if (node.type === 'chardev' || node.type === 'blockdev') node.rdev = Number(st.rdev);
        return node;
    }
  }

  async #saveDir(path: string, node: TreeNode, prev: TreeNode | undefined, rootDev: bigint): Promise<TreeNode | null> {
    let names: string[];
    let prevNodes = new Map<string, TreeNode>();
    try {
      names = await this.#dirs.run(() => readdir(path));
      if (prev?.type === 'dir' && prev.subtree) prevNodes = byName((await loadTree(this.#repo, prev.subtree)).nodes);
    } catch (err) {
      this.#warn(path, err);
      return null;
    }
    // Files of this folder are all started at once (the ingest threads batch them); a few sub-folders are walked at
    // a time, so the folders in memory are those on a few paths, not the whole tree.
    const slots: Promise<TreeNode | null>[] = [];
    const folders: { at: number; child: string; name: string; st: BigIntStats }[] = [];
    for (const name of names) {
      const child = join(path, name);
      if (this.#opts.excluder?.(child)) continue;
      let st: BigIntStats;
      try {
        // synchronous on purpose: ~3x cheaper than a thread-pool round trip for metadata the kernel has cached
        st = lstatSync(child, { bigint: true });
      } catch (err) {
        this.#warn(child, err);
        continue;
      }
      if (st.isDirectory()) {
        if (this.#opts.oneFileSystem && st.dev !== rootDev) continue;
        folders.push({ at: slots.length, child, name, st });
        slots.push(Promise.resolve(null)); // filled below
      } else slots.push(this.saveEntry(child, name, st, prevNodes.get(name), rootDev));
    }
    await mapLimit(folders, SUBFOLDER_CONCURRENCY, async (f) => {
      slots[f.at] = Promise.resolve(await this.saveEntry(f.child, f.name, f.st, prevNodes.get(f.name), rootDev));
    });
    const children = await Promise.all(slots);
    const saved = await saveTree(this.#repo, children.filter((c): c is TreeNode => c !== null));
    this.countTree(saved.known, saved.stored);
    node.subtree = saved.id;
    if (!prev || prev.type !== 'dir') this.summary.dirs_new++;
    else if (prev.subtree === saved.id) this.summary.dirs_unmodified++;
    else this.summary.dirs_changed++;
    this.#progress.dirs++;
    return node;
  }

  async #saveFile(path: string, node: TreeNode, prev: TreeNode | undefined): Promise<TreeNode | null> {
    const s = this.summary;
    const before = this.#opts.reuseBefore;
    if (prev && unchanged(prev, node) && (before === undefined || BigInt(prev.mtime) < before) && prev.content?.every((id) => this.#repo.hasBlob(id))) {
      node.content = prev.content;
      s.files_unmodified++;
      this.#done(path, node.size);
      return node;
    }
    let content: string[] = [];
    let size = 0;
    try {
      ({ ids: content, size } = await this.#pool.get().ingest(path, node.size, prev?.type !== 'file'));
    } catch (err) {
      // a broken worker or a failed repository write (disk full: the pool has failed) ends the backup; an unreadable
      // file does not
      if (err instanceof IngestFailure || this.#pool.started?.failed) throw err;
      this.#warn(path, err);
      return null;
    }
    node.content = content;
    node.size = size; // what we actually read, should the file have changed meanwhile
    if (prev?.type === 'file') s.files_changed++;
    else s.files_new++;
    this.#done(path, size);
    return node;
  }

  #done(path: string, size: number): void {
    this.summary.total_files_processed++;
    this.summary.total_bytes_processed += size;
    const p = this.#progress;
    p.files++;
    p.bytes += size;
    p.currentFile = path;
    this.#opts.onProgress?.(p);
  }
}

function baseNode(name: string, st: BigIntStats): TreeNode {
  return {
    name,
    type: nodeType(st),
    mode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
    mtime: st.mtimeNs.toString(),
    ctime: st.ctimeNs.toString(),
    inode: Number(st.ino),
    dev: Number(st.dev),
    nlink: Number(st.nlink),
    size: st.isFile() ? Number(st.size) : 0,
  };
}

function nodeType(st: BigIntStats): NodeType {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  if (st.isCharacterDevice()) return 'chardev';
  return 'blockdev';
}

function unchanged(prev: TreeNode, now: TreeNode): boolean {
  return prev.type === 'file' && prev.size === now.size && prev.mtime === now.mtime && prev.ctime === now.ctime && prev.inode === now.inode;
}

function byName(nodes: readonly TreeNode[]): Map<string, TreeNode> {
  return new Map(nodes.map((n) => [n.name, n]));
}

function checkNames(paths: readonly string[]): void {
  const seen = new Map<string, string>();
  for (const p of paths) {
    const name = basename(p) || '/';
    const other = seen.get(name);
    if (other !== undefined && other !== p) throw new UserError(`paths ${other} and ${p} share the name "${name}": back them up as separate sources`);
    seen.set(name, p);
  }
}


