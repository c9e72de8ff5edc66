/**
 * The WAL archive of a PostgreSQL source, kept in the source's repository: every file archive_command hands over
 * (segments, partial segments, timeline and backup history files) is one small snapshot tagged `wal`, its bytes
 * chunked, compressed, encrypted and deduplicated like any other data and written to every target of the
 * repository. archive-get finds a file by name for restore_command.
 */
import { createHash } from 'node:crypto';
import { readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { PostgresSource } from '../../config/schema-sources.js';
import type { Repository } from '../../repo/repository.js';
import { loadSnapshots, type SnapshotWithId } from '../../repo/snapshot.js';
import { backupStreams, readStreamChecked } from '../../snapshot/stream-backup.js';
import { UsageError, UserError, errorMessage, isErrno } from '../../util/errors.js';
import { mapLimit } from '../../util/concurrency.js';
import { describePostgres } from './logical.js';
import { ARCHIVED_NAME, SEGMENT_NAME } from './wal.js';

/** The tag of WAL archive snapshots. */
export const WAL_TAG = 'wal';

/** What a WAL archive snapshot records in snapshot.meta. */
export interface WalMeta {
  readonly kind: 'postgres';
  readonly mode: 'wal';
  /** The file name as PostgreSQL knows it (%f). */
  readonly file: string;
  readonly size: number;
  readonly sha256: string;
  /** When archive-push stored it: a segment pushed at T holds no record written after T. */
  readonly pushed_at: string;
  /** The file's modification time: when the server last wrote it (absent in entries of earlier versions). */
  readonly mtime?: string;
  /** The cluster's identity read from global/pg_control (when data_directory is set and readable), else null. */
  readonly system_identifier: string | null;
}

export function isWalSnapshot(s: { meta?: Record<string, unknown> }): boolean {
  return s.meta?.kind === 'postgres' && s.meta.mode === 'wal';
}

/** The archived WAL files of a source, oldest push first. */
export async function walEntries(repo: Repository, sourceName: string): Promise<(SnapshotWithId & { meta: WalMeta })[]> {
  return (await loadSnapshots(repo, { source: sourceName, tags: [WAL_TAG] })).filter(isWalSnapshot) as (SnapshotWithId & { meta: WalMeta })[];
}

/** The system identifier in a data directory's pg_control (its first 8 bytes, little-endian), or null. */
export async function controlSystemId(dataDir: string | undefined): Promise<string | null> {
  if (dataDir === undefined) return null;
  try {
    const b = await readFile(`${dataDir}/global/pg_control`);
    return b.length >= 8 ? b.readBigUInt64LE(0).toString() : null;
  } catch {
    return null;
  }
}

export function checkArchivedName(name: string): void {
  if (!ARCHIVED_NAME.test(name)) throw new UsageError(`${JSON.stringify(name)} is not a WAL file name (a segment like 000000010000000000000003, a .partial segment, a .history or .backup file): archive_command must pass %p`);
}

/**
 * archive-push: stores one WAL file. Pushing the same file again (the server retries after a crash) succeeds without
 * storing anything; a different file under a name already archived is refused, nothing overwritten.
 */
export async function pushWal(repo: Repository, source: PostgresSource, path: string): Promise<{ file: string; stored: boolean; bytes: number }> {
  const file = basename(path);
  checkArchivedName(file);
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (err) {
    throw new UserError(`cannot read WAL file ${path}: ${isErrno(err, 'ENOENT') ? 'no such file (archive_command must pass %p, relative to the data directory)' : errorMessage(err)}`, { cause: err });
  }
  const sha256 = createHash('sha256').update(data).digest('hex');
  const existing = (await walEntries(repo, source.name)).filter((s) => s.meta.file === file);
  if (existing.some((s) => s.meta.sha256 === sha256)) return { file, stored: false, bytes: data.length };
  if (existing.length > 0) {
    throw new UserError(`WAL file ${file} is already archived with different contents: two clusters may archive into the repository of source ${source.name} (check their archive_command); nothing was overwritten`);
  }
  const mtime = (await stat(path)).mtime;
  const meta: WalMeta = { kind: 'postgres', mode: 'wal', file, size: data.length, sha256, pushed_at: new Date().toISOString(), mtime: mtime.toISOString(), system_identifier: await controlSystemId(source.data_directory) };
  await backupStreams(repo, [{ name: file, data: [data], mtime }], {
    source: source.name,
    tags: [WAL_TAG],
    meta: meta as unknown as Record<string, unknown>,
    paths: [`${describePostgres(source)}#wal`],
  });
  return { file, stored: true, bytes: data.length };
}

/** The bytes of an archived WAL file, checked against the hash recorded at push time; null when it is not archived. */
export async function readArchivedWal(repo: Repository, sourceName: string, file: string): Promise<Buffer | null> {
  const entry = (await walEntries(repo, sourceName)).filter((s) => s.meta.file === file).at(-1);
  if (!entry) return null;
  const data = await readStreamChecked(repo, entry, file, entry.meta.sha256);
  if (data === null) throw new UserError(`archived WAL file ${file} does not match the hash recorded when it was pushed: run \`safepoint check --read-data\``);
  return data;
}

/** Where a restore puts the archived WAL it fetched ahead, inside the restored data directory (never backed up). */
export const PREFETCH_DIR = 'pg_wal/safepoint-prefetch';

/**
 * restore_command for a restored copy: a file fetched ahead is moved into place (no process to start, no
 * repository to open), anything else is asked of `archiveGet` (safepoint pg archive-get). Runs in the data directory.
 */
export function prefetchingRestoreCommand(archiveGet: string): string {
  return `if [ -f ${PREFETCH_DIR}/%f ]; then mv ${PREFETCH_DIR}/%f "%p"; else ${archiveGet}; fi`;
}

/** How much WAL a restore fetches ahead at most; recovery asks archive-get for the rest, one file at a time. */
export const PREFETCH_MAX_BYTES = 1 << 30;
const PREFETCH_CONCURRENCY = 3;

/** Where a recovery stops, as far as choosing the WAL to fetch ahead goes. */
export type PrefetchUntil = { readonly time: Date } | { readonly segment: string } | null;

/**
 * Fetches ahead, into `dir`, the archived WAL segments a recovery from a base backup starting in `fromSegment` will
 * ask for, in segment order: up to the segment holding the target LSN; for a time, up to the first segment last
 * written after it (its file time: a segment written last before the target holds nothing after it); else all —
 * at most PREFETCH_MAX_BYTES. Each is checked against its recorded hash. Returns how many were written and their bytes.
 */
export async function prefetchWal(repo: Repository, sourceName: string, dir: string, fromSegment: string, until: PrefetchUntil, owner: { uid: number; gid: number } | null): Promise<{ files: number; bytes: number }> {
  const newest = new Map<string, SnapshotWithId & { meta: WalMeta }>();
  for (const e of await walEntries(repo, sourceName)) {
    if (!SEGMENT_NAME.test(e.meta.file) || e.meta.file.slice(8) < fromSegment.slice(8) || e.meta.file.slice(0, 8) < fromSegment.slice(0, 8)) continue;
    newest.set(e.meta.file, e); // the newest push of a name wins, as archive-get does
  }
  // by segment number, then timeline
  const ordered = [...newest.values()].sort((a, b) => a.meta.file.slice(8).localeCompare(b.meta.file.slice(8)) || a.meta.file.localeCompare(b.meta.file));
  const take: typeof ordered = [];
  for (const e of ordered) {
    if (until && 'segment' in until && e.meta.file.slice(8) > until.segment.slice(8)) break;
    take.push(e);
    if (until && 'time' in until && Date.parse(e.meta.mtime ?? e.meta.pushed_at) > until.time.getTime()) break;
  }
  const { mkdir, chown } = await import('node:fs/promises');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (owner) await chown(dir, owner.uid, owner.gid);
  await repo.loadIndex(); // once, before the concurrent reads
  // within the byte budget, fetched a few at a time (each is read, decrypted, hash-checked, written)
  let budget = 0;
  const chosen = take.filter((e) => (budget += e.meta.size) <= PREFETCH_MAX_BYTES);
  const written = await mapLimit(chosen, PREFETCH_CONCURRENCY, async (e) => {
    const data = await readStreamChecked(repo, e, e.meta.file, e.meta.sha256);
    if (data === null) return 0; // archive-get will say what is wrong
    const path = `${dir}/${e.meta.file}`;
    await writeFile(path, data, { mode: 0o600 });
    if (owner) await chown(path, owner.uid, owner.gid);
    return data.length;
  });
  const files = written.filter((n) => n > 0).length;
  const bytes = written.reduce((a, n) => a + n, 0);
  return { files, bytes };
}

/** archive-get: writes an archived WAL file to `dest` (atomically); false when the archive does not hold it. */
export async function getWal(repo: Repository, source: PostgresSource, file: string, dest: string): Promise<boolean> {
  checkArchivedName(file);
  const data = await readArchivedWal(repo, source.name, file);
  if (data === null) return false;
  const tmp = `${dest}.safepoint-tmp`;
  try {
    await writeFile(tmp, data, { mode: 0o600 });
    await rename(tmp, dest);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw new UserError(`cannot write WAL file ${file} to ${dest}: ${errorMessage(err)}`, { cause: err });
  }
  return true;
}
