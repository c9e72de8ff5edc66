/**
 * Releases on disk, Capistrano style: `releases_dir/<id>/` each a checkout of one commit with its record
 * (`.safepoint-release.json`), and `current`, a symlink to the live one, switched by renaming a new symlink over it
 * (atomic: a reader sees the old release or the new one, never neither).
 */
import { lstat, readFile, readdir, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { UserError, isErrno } from '../util/errors.js';

export const RECORD_FILE = '.safepoint-release.json';

export type ReleaseStatus = 'preparing' | 'healthy' | 'failed' | 'rolled-back';

/** What a release records about itself. */
export interface ReleaseRecord {
  readonly id: string;
  readonly commit: string;
  /** The revision asked for (a branch, a tag, a commit). */
  readonly rev: string;
  readonly created: string;
  status: ReleaseStatus;
  /** Why it failed or was rolled back. */
  reason?: string;
  /** The restore point made for it (a git tag), or null. */
  point: string | null;
  /** The configuration backups taken with it. */
  config_snapshots: { source: string; id: string }[];
  /** Its scripts ran database migrations (a script named so, or migration files changed since the previous release). */
  ran_migrations: boolean;
  /** The release that was live before it. */
  previous: string | null;
  switched_at?: string;
  /** The deploy scripts it ran, with the end of their output. */
  scripts?: { command: string; seconds: number; ok: boolean; output: string }[];
}

export function releaseId(time: Date, commit: string): string {
  return `${time.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '')}-${commit.slice(0, 8)}`;
}

export async function writeRecord(dir: string, r: ReleaseRecord): Promise<void> {
  const tmp = join(dir, `${RECORD_FILE}.tmp`);
  await writeFile(tmp, `${JSON.stringify(r, null, 2)}\n`);
  await rename(tmp, join(dir, RECORD_FILE));
}

export async function readRecord(dir: string): Promise<ReleaseRecord | null> {
  try {
    return JSON.parse(await readFile(join(dir, RECORD_FILE), 'utf8')) as ReleaseRecord;
  } catch (err) {
    if (isErrno(err, 'ENOENT') || err instanceof SyntaxError) return null;
    throw err;
  }
}

/** The releases of `releasesDir` that carry a record, oldest first (ids sort by time). */
export async function listReleases(releasesDir: string): Promise<{ dir: string; record: ReleaseRecord }[]> {
  let names: string[];
  try {
    names = await readdir(releasesDir);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [];
    throw err;
  }
  const out: { dir: string; record: ReleaseRecord }[] = [];
  for (const n of names.filter((x) => !x.startsWith('.')).sort()) {
    const record = await readRecord(join(releasesDir, n));
    if (record) out.push({ dir: join(releasesDir, n), record });
  }
  return out;
}

/**
 * The live release: the folder `current` links to, or null when `current` does not exist yet.
 * @throws UserError when `current` exists and is not a symlink (something else is there: never replaced).
 */
export async function liveRelease(current: string): Promise<string | null> {
  try {
    const st = await lstat(current);
    if (!st.isSymbolicLink()) throw new UserError(`${current} is not a symlink (a ${st.isDirectory() ? 'folder' : 'file'} is there): move it aside so that safepoint can manage the live release`);
    return resolve(dirname(current), await readlink(current));
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return null;
    throw err;
  }
}

/** Points `current` at `releaseDir` atomically (a new symlink renamed over the old one). */
export async function switchCurrent(current: string, releaseDir: string): Promise<void> {
  await liveRelease(current); // refuses a `current` that is not a symlink
  const tmp = join(dirname(current), `.${basename(current)}.safepoint-${process.pid}`);
  await rm(tmp, { force: true });
  await symlink(releaseDir, tmp);
  await rename(tmp, current);
}

/**
 * Removes the oldest releases beyond `keep`, never the live one nor the newest healthy release before it (the
 * rollback target). Returns the ids removed.
 */
export async function pruneReleases(releasesDir: string, keep: number, live: string | null): Promise<string[]> {
  const all = await listReleases(releasesDir);
  const liveIdx = all.findIndex((r) => r.dir === live);
  const fallback = all.slice(0, liveIdx < 0 ? all.length : liveIdx).reverse().find((r) => r.record.status === 'healthy');
  const removable = all.slice(0, Math.max(0, all.length - keep)).filter((r) => r.dir !== live && r !== fallback);
  for (const r of removable) await rm(r.dir, { recursive: true, force: true });
  return removable.map((r) => r.record.id);
}
