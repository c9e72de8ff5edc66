/**
 * Puts a files snapshot back exactly where it was taken from, as the clean state after an attack: each backed-up
 * path is restored (and re-read against the snapshot) into a staging folder beside it, on the same file system, then
 * swapped in by rename. What the live tree had that the snapshot has not — files an attacker added, ransom notes,
 * encrypted copies — is gone from the live tree afterwards (the caller has kept it in a quarantine snapshot); the
 * metadata is the snapshot's. Until the swap, the live path is untouched: a restore that fails leaves it as it was.
 */
import { lstat, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import type { Repository } from '../repo/repository.js';
import type { SnapshotWithId } from '../repo/snapshot.js';
import { restoreTree } from '../snapshot/restorer.js';
import { IntegrityError, errorMessage, isErrno } from '../util/errors.js';

export interface PathSwap {
  readonly path: string;
  readonly files: number;
  readonly bytes: number;
  /** Files the live tree had that the clean snapshot has not (removed from the live tree), the first few. */
  readonly removed: string[];
  readonly removedCount: number;
}

/** Every regular file and link under `root`, relative to it. */
async function filesUnder(root: string): Promise<Set<string>> {
  const out = new Set<string>();
  const walk = async (dir: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ENOTDIR')) return;
      throw err;
    }
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else out.add(relative(root, p));
    }
  };
  await walk(root);
  return out;
}

export async function restoreFilesInPlace(repo: Repository, sn: SnapshotWithId): Promise<PathSwap[]> {
  await repo.loadIndex();
  const done: PathSwap[] = [];
  for (const path of sn.paths) {
    const name = basename(path) || '/';
    if (name === '/') throw new IntegrityError(`snapshot ${sn.id.slice(0, 8)} backs up / itself: restore it by hand with \`safepoint restore\``);
    const staging = await mkdtemp(join(dirname(path), `.${name}.safepoint-restore-`));
    try {
      const r = await restoreTree(repo, sn.tree, { target: staging, include: [name, `${name}/**`], verify: true });
      if (r.errors.length > 0) throw new IntegrityError(`${path}: ${r.errors.length} entries could not be restored (first: ${r.errors[0]}); the live path was not touched`);
      const clean = join(staging, name);
      const before = await filesUnder(path);
      const after = await filesUnder(clean);
      const removed = [...before].filter((f) => !after.has(f)).sort();
      const aside = `${path}.safepoint-replaced-${Date.now()}`;
      let moved = false;
      try {
        await lstat(path);
        await rename(path, aside);
        moved = true;
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
      }
      try {
        await rename(clean, path);
      } catch (err) {
        if (moved) await rename(aside, path).catch(() => undefined);
        throw new IntegrityError(`${path}: the clean copy could not be moved into place (${errorMessage(err)}); the live path is as it was`);
      }
      if (moved) await rm(aside, { recursive: true, force: true });
      done.push({ path, files: r.files, bytes: r.bytes, removed: removed.slice(0, 10), removedCount: removed.length });
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }
  return done;
}
