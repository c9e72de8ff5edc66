/**
 * Puts a files snapshot back where it was taken from, as the clean state after an attack. Within the source's
 * scope (what its excludes and its audit list let it back up), the live tree becomes exactly the snapshot: every
 * file re-read against the snapshot in a staging folder beside it (same file system), then renamed into place;
 * what the live tree has there that the snapshot has not — files an attacker added, ransom notes, encrypted copies —
 * is moved out. Nothing is deleted: every entry moved out or replaced goes to a folder beside the path
 * (`.<name>.safepoint-replaced-<time>`, evidence the caller reports). Outside the scope (excluded files, what an
 * audit list leaves out), nothing is touched: the snapshot cannot say what clean means there.
 *
 * Every path is staged before any is changed: a snapshot that does not restore leaves the live tree untouched.
 */
import { lstat, mkdir, mkdtemp, readdir, rename, rm, chmod, chown, lutimes } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Repository } from '../repo/repository.js';
import type { SnapshotWithId } from '../repo/snapshot.js';
import { loadTree, type TreeNode } from '../repo/tree.js';
import { restoreTree } from '../snapshot/restorer.js';
import { IntegrityError, UserError, errorMessage, isErrno } from '../util/errors.js';

/** Whether an absolute path is inside the source's scope (not excluded). */
export type Scope = (absPath: string) => boolean;

export interface PathSwap {
  readonly path: string;
  readonly files: number;
  readonly bytes: number;
  /** Entries in scope the snapshot has not (moved out of the live tree), relative to the path; the first few. */
  readonly removed: string[];
  readonly removedCount: number;
  /** Where what was removed or replaced is kept; null when nothing was there. */
  readonly keptIn: string | null;
}

async function lstatOrNull(p: string): Promise<Stats | null> {
  try {
    return await lstat(p);
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENOTDIR')) return null;
    throw err;
  }
}

const kind = (s: Stats): string => (s.isDirectory() ? 'dir' : s.isSymbolicLink() ? 'link' : s.isFile() ? 'file' : 'other');

/** The names under each folder of a snapshot path, as relative paths (`a`, `a/b`): what the clean state holds. */
async function snapshotEntries(repo: Repository, sn: SnapshotWithId, name: string): Promise<Map<string, string> | null> {
  const root = (await loadTree(repo, sn.tree)).nodes.find((n) => n.name === name);
  if (!root) return null;
  const out = new Map<string, string>();
  const walk = async (node: TreeNode, rel: string): Promise<void> => {
    if (!node.subtree) return;
    for (const child of (await loadTree(repo, node.subtree)).nodes) {
      const r = rel === '' ? child.name : `${rel}/${child.name}`;
      out.set(r, child.type);
      if (child.type === 'dir') await walk(child, r);
    }
  };
  if (root.type === 'dir') await walk(root, '');
  return out;
}

/** Live entries in scope that the snapshot has not (or has as another kind): what a restore removes, relative. */
async function extras(path: string, clean: ReadonlyMap<string, string>, inScope: Scope): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string, rel: string): Promise<void> => {
    let names: string[];
    try {
      names = (await readdir(dir)).sort();
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ENOTDIR')) return;
      throw err;
    }
    for (const n of names) {
      const abs = join(dir, n);
      if (!inScope(abs)) continue;
      const r = rel === '' ? n : `${rel}/${n}`;
      const st = await lstat(abs);
      const want = clean.get(r);
      const k = kind(st) === 'file' ? 'file' : kind(st) === 'link' ? 'symlink' : kind(st);
      if (want !== k) out.push(r);
      else if (st.isDirectory()) await walk(abs, r);
    }
  };
  if ((await lstatOrNull(path))?.isDirectory()) await walk(path, '');
  return out;
}

/** What a restore of `sn` in place would remove, per path (for a dry run or a confirmation). */
export async function planInPlace(repo: Repository, sn: SnapshotWithId, inScope: Scope): Promise<{ path: string; removed: string[] }[]> {
  await repo.loadIndex();
  const out: { path: string; removed: string[] }[] = [];
  for (const path of sn.paths) {
    const clean = await snapshotEntries(repo, sn, basename(path));
    out.push({ path, removed: clean ? await extras(path, clean, inScope) : [] });
  }
  return out;
}

/** Moves `from` to the same relative place under `keep` (created as needed). */
async function keepAside(from: string, keep: string, rel: string): Promise<void> {
  const to = join(keep, rel);
  await mkdir(dirname(to), { recursive: true, mode: 0o700 });
  await rename(from, to);
}

/** Makes the live folders carry the clean folders' mode, owner and times (deepest first: renames touch mtimes). */
async function copyDirMeta(staged: string, live: string, dirs: readonly string[]): Promise<void> {
  for (const rel of [...dirs].sort((a, b) => b.split('/').length - a.split('/').length)) {
    const s = await lstat(join(staged, rel));
    const l = join(live, rel);
    if (process.getuid?.() === 0) await chown(l, s.uid, s.gid).catch(() => undefined);
    await chmod(l, s.mode & 0o7777);
    await lutimes(l, s.atime, s.mtime);
  }
}

export async function restoreFilesInPlace(repo: Repository, sn: SnapshotWithId, inScope: Scope): Promise<PathSwap[]> {
  await repo.loadIndex();
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const staged: { path: string; name: string; staging: string; files: number; bytes: number }[] = [];
  try {
    // 1. every path restored and verified beside the live one before anything changes
    for (const path of sn.paths) {
      const name = basename(path);
      if (name === '' || path === '/') throw new UserError(`snapshot ${sn.id.slice(0, 8)} backs up / itself: restore it by hand with \`safepoint restore\``);
      const staging = await mkdtemp(join(dirname(path), `.${name}.safepoint-restore-`));
      staged.push({ path, name, staging, files: 0, bytes: 0 });
      const r = await restoreTree(repo, sn.tree, { target: staging, include: [name, `${name}/**`], verify: true });
      if (r.errors.length > 0) throw new IntegrityError(`${path}: ${r.errors.length} entries could not be restored (first: ${r.errors[0]}); nothing was changed`);
      Object.assign(staged.at(-1)!, { files: r.files, bytes: r.bytes });
    }
    // 2. each path made exactly the clean state within the scope
    const done: PathSwap[] = [];
    for (const s of staged) {
      const clean = join(s.staging, s.name);
      const keep = join(dirname(s.path), `.${s.name}.safepoint-replaced-${stamp}`);
      let kept = false;
      const aside = async (from: string, rel: string): Promise<void> => {
        await keepAside(from, keep, rel);
        kept = true;
      };
      const live = await lstatOrNull(s.path);
      const cleanSt = await lstat(clean);
      let removed: string[] = [];
      try {
        if (!live || !live.isDirectory() || !cleanSt.isDirectory()) {
          if (live) await aside(s.path, s.name);
          await rename(clean, s.path);
        } else {
          const entries = await snapshotEntries(repo, sn, s.name);
          removed = await extras(s.path, entries ?? new Map(), inScope);
          for (const rel of removed) await aside(join(s.path, rel), `${s.name}/${rel}`);
          const descended: string[] = [''];
          const place = async (rel: string): Promise<void> => {
            for (const n of await readdir(join(clean, rel))) {
              const r = rel === '' ? n : `${rel}/${n}`;
              const from = join(clean, r);
              const to = join(s.path, r);
              const st = await lstat(from);
              const there = await lstatOrNull(to);
              if (st.isDirectory() && there?.isDirectory()) {
                descended.push(r);
                await place(r);
                continue;
              }
              if (there) await aside(to, `${s.name}/${r}`);
              await rename(from, to);
            }
          };
          await place('');
          await copyDirMeta(clean, s.path, descended);
        }
      } catch (err) {
        if (isErrno(err, 'EBUSY', 'EXDEV')) throw new UserError(`${s.path} cannot be replaced by rename (${isErrno(err, 'EBUSY') ? 'a mount point or busy' : 'another file system'}): restore snapshot ${sn.id.slice(0, 8)} into a folder with \`safepoint restore\` and copy it over; what was moved so far is in ${keep}`);
        throw new IntegrityError(`${s.path}: ${errorMessage(err)} while putting the clean state in place; what was moved so far is in ${keep}: run the rollback again to finish`, { cause: err });
      }
      done.push({ path: s.path, files: s.files, bytes: s.bytes, removed: removed.slice(0, 10), removedCount: removed.length, keptIn: kept ? keep : null });
    }
    return done;
  } finally {
    for (const s of staged) await rm(s.staging, { recursive: true, force: true });
  }
}
