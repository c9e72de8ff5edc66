import { IntegrityError, NotFoundError } from '../util/errors.js';
import { mapLimit } from '../util/concurrency.js';
import { hostname } from 'node:os';
import { currentUser } from '../util/user.js';
import { VERSION } from '../version.js';
import type { Repository } from './repository.js';

export type BackupType = 'full' | 'differential' | 'incremental';

/**
 * Tags of the entries continuous protection writes (PostgreSQL WAL archive, SQLite replication, MariaDB binlogs): many small
 * snapshots that are not restore points of their own; listings hide them and "latest" skips them.
 */
export const CONTINUOUS_TAGS: readonly string[] = ['wal', 'replica', 'binlog'];

export function isContinuous(s: { tags: readonly string[] }): boolean {
  return s.tags.some((t) => CONTINUOUS_TAGS.includes(t));
}

export interface SnapshotSummary {
  files_new: number;
  files_changed: number;
  files_unmodified: number;
  dirs_new: number;
  dirs_changed: number;
  dirs_unmodified: number;
  data_blobs: number;
  tree_blobs: number;
  data_added: number;
  total_files_processed: number;
  total_bytes_processed: number;
  backup_start: string;
  backup_end: string;
  total_duration: number;
}

/** A snapshot file (format §8.2). */
export interface Snapshot {
  version: 1;
  time: string;
  host: string;
  username: string;
  uid: number;
  gid: number;
  paths: string[];
  tags: string[];
  source: string | null;
  type: BackupType;
  parent: string | null;
  tree: string;
  excludes: string[];
  complete: boolean;
  warnings: string[];
  summary: SnapshotSummary;
  program_version: string;
  /** Set by `safepoint copy`: the id of the snapshot this one was copied from, in another repository. */
  original?: string;
  /** Database snapshots: what the streams hold (kind, format, database, server version, row counts...). */
  meta?: Record<string, unknown>;
}

export interface SnapshotWithId extends Snapshot {
  id: string;
}

export interface SnapshotFilter {
  host?: string;
  source?: string;
  tags?: string[];
  paths?: string[];
}

/** The counters a backup fills in; the times are added by `newSnapshot`. */
export type SnapshotCounts = Omit<SnapshotSummary, 'backup_start' | 'backup_end' | 'total_duration'>;

/**
 * A snapshot record for a backup that ran from `start` to `end`: who, where, which program, and the summary with
 * its times; the caller gives what it backed up.
 */
export function newSnapshot(
  what: Omit<Snapshot, 'version' | 'time' | 'host' | 'username' | 'uid' | 'gid' | 'summary' | 'program_version'> & { host?: string | undefined },
  counts: SnapshotCounts,
  start: Date,
  end: Date,
): Snapshot {
  const user = currentUser();
  const { host, ...rest } = what;
  return {
    version: 1,
    time: start.toISOString(),
    host: host ?? hostname(),
    username: user.name,
    uid: user.uid,
    gid: user.gid,
    ...rest,
    summary: { ...counts, backup_start: start.toISOString(), backup_end: end.toISOString(), total_duration: (end.getTime() - start.getTime()) / 1000 },
    program_version: `safepoint ${VERSION}`,
  };
}

export async function saveSnapshot(repo: Repository, sn: Snapshot): Promise<string> {
  return repo.saveJson('snapshots', sn);
}

/** All snapshots, oldest first. With `onDamaged`, an unreadable snapshot file is reported and skipped instead of failing. */
export async function loadSnapshots(repo: Repository, filter: SnapshotFilter = {}, onDamaged?: (id: string, err: unknown) => void, onProgress?: (done: number, total: number) => void): Promise<SnapshotWithId[]> {
  const ids: string[] = [];
  for await (const id of repo.listIds('snapshots')) ids.push(id);
  // this host's list (snapshot-index.ts): only the snapshots it does not hold yet are read
  const known = repo.snapshotIndex ? await repo.snapshotIndex.read() : new Map<string, Snapshot>();
  let read = 0;
  let done = 0;
  const all = await mapLimit(ids, 16, async (id): Promise<SnapshotWithId | null> => {
    try {
      const kept = known.get(id);
      if (kept) return { ...kept, id };
      const sn = { ...(await repo.loadJson<Snapshot>('snapshots', id)), id };
      read++;
      return sn;
    } catch (err) {
      if (!onDamaged || !(err instanceof IntegrityError)) throw err;
      onDamaged(id, err);
      return null;
    } finally {
      onProgress?.(++done, ids.length);
    }
  });
  const present = all.filter((s): s is SnapshotWithId => s !== null);
  if (repo.snapshotIndex && (read > 0 || known.size !== present.length)) {
    await repo.snapshotIndex.write(new Map(present.map(({ id, ...sn }) => [id, sn])));
  }
  return present.filter((s) => matches(s, filter)).sort((a, b) => a.time.localeCompare(b.time) || a.id.localeCompare(b.id));
}

export function matches(s: Snapshot, f: SnapshotFilter): boolean {
  if (f.host !== undefined && s.host !== f.host) return false;
  if (f.source !== undefined && s.source !== f.source) return false;
  if (f.tags && f.tags.length > 0 && !f.tags.every((t) => s.tags.includes(t))) return false;
  if (f.paths && f.paths.length > 0 && !sameSet(s.paths, f.paths)) return false;
  return true;
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && [...a].sort().every((x, i) => x === [...b].sort()[i]);
}

/** Resolves `latest` (optionally filtered) or a snapshot id prefix. */
export async function findSnapshot(repo: Repository, ref: string, filter: SnapshotFilter = {}): Promise<SnapshotWithId> {
  if (ref === 'latest') {
    const all = await loadSnapshots(repo, filter);
    const last = all.at(-1);
    if (!last) throw new NotFoundError('no snapshot found: the repository has no snapshot matching the filter (run `safepoint snapshots`)');
    return last;
  }
  const id = await repo.resolveId('snapshots', ref);
  return { ...(await repo.loadJson<Snapshot>('snapshots', id)), id };
}

export const formatSnapshotTime = (s: Snapshot): string => s.time.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
