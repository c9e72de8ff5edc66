/**
 * Puts the paths of a configuration snapshot (a files source) where a release or a rollback wants them, each
 * restored beside its destination, verified byte for byte against the snapshot, then renamed into place. What was
 * at a destination is moved aside (`<dest>.before-<time>`), never deleted, and put back if anything fails.
 */
import { lstat, mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Snapshot } from '../repo/snapshot.js';
import { restoreTree, type RestorerRepo } from '../snapshot/restorer.js';
import { IntegrityError, UserError, isErrno } from '../util/errors.js';

export interface Placed {
  readonly path: string;
  readonly dest: string;
  /** Where what was at `dest` went, or null when nothing was there. */
  readonly aside: string | null;
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return false;
    throw err;
  }
}

/**
 * Restores every backed-up path of `snapshot` to `place(path)`. With `replace` false an existing destination is an
 * error (nothing changed); with it, the old one is moved aside. @throws IntegrityError when a file does not match.
 */
export async function placeSnapshot(repo: RestorerRepo, snapshot: Snapshot, place: (path: string) => string, replace: boolean): Promise<Placed[]> {
  const done: Placed[] = [];
  const stamp = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
  try {
    for (const path of snapshot.paths) {
      const name = basename(path) || '/';
      const dest = place(path);
      const there = await exists(dest);
      if (there && !replace) throw new UserError(`${dest} exists: restore into an empty folder`);
      await mkdir(dirname(dest), { recursive: true });
      const tmp = await mkdtemp(join(dirname(dest), `.${basename(dest)}.restore-`));
      try {
        const r = await restoreTree(repo, snapshot.tree, { target: tmp, include: [name, `${name}/**`], verify: true });
        if (r.errors.length > 0) throw new IntegrityError(`${path}: ${r.errors.length} files did not restore (${r.errors.slice(0, 2).join('; ')})`);
        const aside = there ? `${dest}.before-${stamp}` : null;
        if (aside) await rename(dest, aside);
        await rename(join(tmp, name), dest);
        done.push({ path, dest, aside });
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
    }
    return done;
  } catch (err) {
    // all or nothing: what was placed goes, what was there comes back
    for (const p of done.reverse()) {
      await rm(p.dest, { recursive: true, force: true }).catch(() => undefined);
      if (p.aside) await rename(p.aside, p.dest).catch(() => undefined);
    }
    throw err;
  }
}
