/**
 * This host's list of a repository's snapshots, so a listing reads one local file instead of every snapshot
 * file: `pg archive-push` lists the WAL archive at every segment (each archived file is a snapshot), and 5,000
 * snapshot files took 0.8 s to read and decrypt on a local disk, one request each on S3.
 *
 * The repository stays the truth: every listing still lists `snapshots/`, takes from here only the ids it lists,
 * reads the others from the repository and forgets here those it no longer lists. A snapshot never changes under
 * its id (content-addressed), so a kept one cannot be stale. The file is sealed with the repository's key like
 * the repository's own objects (nothing readable without it on the local disk, nothing changed unnoticed), and
 * any failure to read or write it costs the reads it would have saved, never a result.
 *
 * File: `<cache folder>/<repository id>/snapshots.index` (`cacheRoot`). The
 * whole list is rewritten when a listing finds something new: about 0.6 KB per snapshot, so a WAL archive of
 * 100,000 entries (two months at one segment a minute) means a 60 MB list read and written per segment; retention
 * keeps archives well below that. `check` and `drill` never use it: they prove what any host would find.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { openJson, sealJson } from './json-object.js';
import type { Snapshot } from './snapshot.js';

/** The cache folder: $SAFEPOINT_CACHE_DIR, else $XDG_CACHE_HOME/safepoint, else ~/.cache/safepoint. */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SAFEPOINT_CACHE_DIR) return env.SAFEPOINT_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'safepoint');
}

interface IndexFile {
  readonly version: 1;
  readonly snapshots: Record<string, Snapshot>;
}

export class SnapshotIndex {
  readonly #file: string;
  readonly #encKey: Buffer;

  constructor(root: string, repositoryId: string, encKey: Buffer) {
    this.#file = join(root, repositoryId, 'snapshots.index');
    this.#encKey = encKey;
  }

  /** The snapshots kept here by id; empty when there is no file or it cannot be opened. */
  async read(): Promise<Map<string, Snapshot>> {
    try {
      const o = openJson<IndexFile>(this.#encKey, await readFile(this.#file), 'snapshot index');
      return o.version === 1 && typeof o.snapshots === 'object' && o.snapshots !== null ? new Map(Object.entries(o.snapshots)) : new Map();
    } catch {
      return new Map();
    }
  }

  /** Replaces the list (written whole: a crash leaves the previous one). */
  async write(snapshots: ReadonlyMap<string, Snapshot>): Promise<void> {
    try {
      await mkdir(dirname(this.#file), { recursive: true, mode: 0o700 });
      const tmp = `${this.#file}.${randomBytes(6).toString('hex')}`;
      await writeFile(tmp, sealJson(this.#encKey, { version: 1, snapshots: Object.fromEntries(snapshots) } satisfies IndexFile), { mode: 0o600 });
      await rename(tmp, this.#file);
    } catch {
      // a full or read-only disk: the next listing reads the repository again
    }
  }
}
