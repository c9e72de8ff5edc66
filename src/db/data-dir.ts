/**
 * The data directory of a physical restore (PostgreSQL, MariaDB): where it goes, whether it holds anything, whether
 * a server still runs on it, and moving what is there aside (never deleting it) before the restore writes.
 */
import { execFile } from 'node:child_process';
import { readdir, readFile, rename } from 'node:fs/promises';
import { promisify } from 'node:util';
import { resolve } from 'node:path';
import { systemClock } from '../util/clock.js';
import { UsageError, UserError, errorMessage, isErrno } from '../util/errors.js';
import type { DbRestoreTarget } from './driver.js';

/** `into`, else the configured data_directory (`example` names a usual one in the message when it is missing). */
export function targetDataDir(source: { readonly name: string; readonly data_directory?: string | undefined }, target: DbRestoreTarget, example: string): string {
  if (target.into !== undefined) return resolve(target.into);
  if (source.data_directory === undefined) {
    throw new UsageError(`source ${source.name}: an in-place physical restore needs data_directory (the server's data directory, e.g. ${example}) in the configuration, or restore into another directory with --into`);
  }
  return resolve(source.data_directory);
}

/** The names in `dir`, or null when it does not exist. */
export async function dirEntries(dir: string): Promise<string[] | null> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return null;
    if (isErrno(err, 'ENOTDIR')) throw new UserError(`${dir} is not a directory: a physical restore needs a data directory`, { cause: err });
    throw err;
  }
}

/** Whether a process runs with this pid (one we may not signal counts). */
export function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return isErrno(err, 'EPERM');
  }
}

/** The pid in the first line of a pid file in `dir`, when that process runs; else null. */
export async function livePidFile(path: string): Promise<number | null> {
  const pid = Number((await readFile(path, 'utf8').catch(() => '')).split('\n')[0]?.trim());
  return processAlive(pid) ? pid : null;
}

/** Renames `dir` to `<dir>.before-<timestamp>` (made unique); returns the new name. */
export async function moveAside(dir: string): Promise<string> {
  let aside = `${dir}.before-${systemClock.now().toISOString().slice(0, 19).replace(/-|:/g, '').replace('T', '_')}`;
  if ((await dirEntries(aside)) !== null) aside = `${aside}-${process.pid}`;
  try {
    await rename(dir, aside);
  } catch (err) {
    throw new UserError(`cannot move ${dir} aside to ${aside}: ${errorMessage(err)} (a mount point cannot be moved: empty it yourself, keeping a copy, and restore again)`, { cause: err });
  }
  return aside;
}

export function keptAsideNote(dir: string, aside: string): string {
  return `the previous contents of ${dir} are kept, unchanged, in ${aside} (remove it when no longer needed)`;
}

/**
 * Flushes the file system holding `dir` to disk (syncfs(2) through `sync -f`): one call instead of an fsync per
 * file of a restored data directory. Without coreutils' `sync -f`, the server's own fsync at start does it.
 */
export async function syncFileSystem(dir: string): Promise<void> {
  await promisify(execFile)('sync', ['-f', dir]).catch(() => undefined);
}
