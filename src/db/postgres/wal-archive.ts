/**
 * The WAL archive of a PostgreSQL source, kept in the source's repository: every file archive_command hands over
 * (segments, partial segments, timeline and backup history files) is one small snapshot tagged `wal`, its bytes
 * chunked, compressed, encrypted and deduplicated like any other data and written to every target of the
 * repository. archive-get finds a file by name for restore_command.
 */
import { createHash } from 'node:crypto';
import { chown, mkdir, open, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { basename } from 'node:path';
import type { PostgresSource } from '../../config/schema-sources.js';
import type { Repository } from '../../repo/repository.js';
import { loadSnapshots, type SnapshotWithId } from '../../repo/snapshot.js';
import { backupStreams, readStreamChecked, writeStreamChecked } from '../../snapshot/stream-backup.js';
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

function hashMismatch(file: string): UserError {
  return new UserError(`archived WAL file ${file} does not match the hash recorded when it was pushed: run \`safepoint check --read-data\``);
}

/** The bytes of an archived WAL file, checked against the hash recorded at push time; null when it is not archived. */
export async function readArchivedWal(repo: Repository, sourceName: string, file: string): Promise<Buffer | null> {
  const entry = (await walEntries(repo, sourceName)).filter((s) => s.meta.file === file).at(-1);
  if (!entry) return null;
  const data = await readStreamChecked(repo, entry, file, entry.meta.sha256);
  if (data === null) throw hashMismatch(file);
  return data;
}

/** Where a restore puts the archived WAL it fetched ahead, inside the restored data directory (never backed up). */
export const PREFETCH_DIR = 'pg_wal/safepoint-prefetch';

/**
 * Files of the fetch-ahead folder that tell restore_command what the restore knows (format in docs/databases.md):
 * `.pid` the restoring process, `.archived` every name in the archive when the restore began, `.planned` the names
 * being fetched, `.fetching` present while they are. Dot names never collide with WAL file names.
 */
const PID_FILE = '.pid';
const ARCHIVED_FILE = '.archived';
const PLANNED_FILE = '.planned';
const FETCHING_FILE = '.fetching';
/** Appended by restore_command: the files it moved into place (asked again, they come from archive-get at once). */
const TAKEN_FILE = '.taken';

/**
 * restore_command for a restored copy; runs in the data directory. A file fetched ahead is moved into place (no
 * process to start, no repository to open). While the restoring process lives, its listing of the archive is
 * authoritative: a planned file not fetched yet is waited for, a name the archive does not hold is answered "not
 * there" at once (recovery asks for the history files of timelines that do not exist: each answer would otherwise
 * start a process and open the repository). Anything else, and everything once that process is gone, is asked of
 * `archiveGet` (safepoint pg archive-get).
 */
export function prefetchingRestoreCommand(archiveGet: string): string {
  const d = PREFETCH_DIR;
  return [
    `if [ -f ${d}/${PID_FILE} ] && [ -d /proc/"$(cat ${d}/${PID_FILE})" ]; then`,
    `if grep -qxF %f ${d}/${PLANNED_FILE}; then while [ ! -f ${d}/%f ] && [ -f ${d}/${FETCHING_FILE} ] && ! grep -qxF %f ${d}/${TAKEN_FILE} 2>/dev/null; do sleep 0.02; done;`,
    `elif ! grep -qxF %f ${d}/${ARCHIVED_FILE}; then exit 1; fi; fi;`,
    `if [ -f ${d}/%f ]; then mv ${d}/%f "%p" && echo %f >> ${d}/${TAKEN_FILE}; else ${archiveGet}; fi`,
  ].join(' ');
}

/** recovery_end_command for a restored copy: what was fetched ahead and not replayed goes when recovery ends. */
export const PREFETCH_CLEANUP_COMMAND = `rm -rf ${PREFETCH_DIR}`;

/** How much WAL a restore fetches ahead at most; recovery asks archive-get for the rest, one file at a time. */
export const PREFETCH_MAX_BYTES = 1 << 30;

/** Where a recovery stops, as far as choosing the WAL to fetch ahead goes. */
export type PrefetchUntil = { readonly time: Date } | { readonly segment: string } | null;

export interface PrefetchPlan {
  /** The archived files to fetch, in the order recovery asks for them. */
  readonly files: readonly (SnapshotWithId & { meta: WalMeta })[];
  readonly bytes: number;
}

/**
 * The archived WAL segments a recovery from a base backup starting in `fromSegment` will ask for, in segment order:
 * up to the segment holding the target LSN; for a time, up to the first segment last written after it (its file
 * time: a segment written last before the target holds nothing after it); else all — at most PREFETCH_MAX_BYTES.
 * `entries` is the source's archive (walEntries).
 */
export function planPrefetch(entries: readonly (SnapshotWithId & { meta: WalMeta })[], fromSegment: string, until: PrefetchUntil): PrefetchPlan {
  const newest = new Map<string, SnapshotWithId & { meta: WalMeta }>();
  for (const e of entries) {
    if (!SEGMENT_NAME.test(e.meta.file) || e.meta.file.slice(8) < fromSegment.slice(8) || e.meta.file.slice(0, 8) < fromSegment.slice(0, 8)) continue;
    newest.set(e.meta.file, e); // the newest push of a name wins, as archive-get does
  }
  // by segment number, then timeline
  const ordered = [...newest.values()].sort((a, b) => a.meta.file.slice(8).localeCompare(b.meta.file.slice(8)) || a.meta.file.localeCompare(b.meta.file));
  const take: typeof ordered = [];
  let bytes = 0;
  for (const e of ordered) {
    if (until && 'segment' in until && e.meta.file.slice(8) > until.segment.slice(8)) break;
    if (bytes + e.meta.size > PREFETCH_MAX_BYTES) break;
    take.push(e);
    bytes += e.meta.size;
    if (until && 'time' in until && Date.parse(e.meta.mtime ?? e.meta.pushed_at) > until.time.getTime()) break;
  }
  return { files: take, bytes };
}

export interface Prefetch {
  /**
   * Settles (never rejects) when every planned file is written or has failed — a file that failed is fetched by
   * archive-get when recovery asks for it — with what was written.
   */
  readonly done: Promise<{ files: number; bytes: number; seconds: number; failed: string[] }>;
  /** Stops fetching (what is being written is finished first); `done` settles after. */
  readonly abort: () => void;
}

/** Creates `path` anew (never through a link) with `text`, owned by `owner` (through the descriptor). */
async function putNew(path: string, text: string, owner: { uid: number; gid: number } | null): Promise<void> {
  await rm(path, { force: true });
  const fh = await open(path, 'wx', 0o600);
  try {
    if (owner) await fh.chown(owner.uid, owner.gid);
    await fh.writeFile(text);
  } finally {
    await fh.close();
  }
}

/**
 * Starts fetching `plan` into `dir` (created; owned by `owner` when given), `concurrency` files at a time, each
 * checked (its chunks against their ids, its length against the one recorded) and renamed into place whole. The listing files restore_command reads are
 * written before this returns, so a server started right after already finds them. Every file is created anew and
 * handed over through its descriptor: the folder belongs to the database's OS user, who must not be able to make
 * this process write through a planted link.
 */
export async function startPrefetch(repo: Repository, entries: readonly { meta: WalMeta }[], plan: PrefetchPlan, dir: string, options: { owner: { uid: number; gid: number } | null; concurrency: number }): Promise<Prefetch> {
  const { owner } = options;
  await mkdir(dir, { mode: 0o700 });
  if (owner) await chown(dir, owner.uid, owner.gid);
  const names = (list: readonly { meta: WalMeta }[]): string => [...new Set(list.map((e) => e.meta.file))].map((n) => `${n}\n`).join('');
  await putNew(`${dir}/${ARCHIVED_FILE}`, names(entries), owner);
  await putNew(`${dir}/${PLANNED_FILE}`, names(plan.files), owner);
  await putNew(`${dir}/${FETCHING_FILE}`, '', owner);
  await putNew(`${dir}/${PID_FILE}`, `${process.pid}\n`, owner);
  await repo.loadIndex(); // once, before the concurrent reads
  let stopped = false;
  const t0 = Date.now();
  const failed: string[] = [];
  const run = async (): Promise<{ files: number; bytes: number; seconds: number; failed: string[] }> => {
    try {
      const written = await mapLimit(plan.files, options.concurrency, async (e) => {
        if (stopped) return 0;
        const part = `${dir}/${e.meta.file}.part`;
        try {
          await rm(part, { force: true });
          // each chunk is checked against its id on the way: the size closes the file (see writeStreamChecked)
          if (!(await writeStreamChecked(repo, e, e.meta.file, { size: e.meta.size }, part, owner))) throw new Error(`is not the ${e.meta.size} bytes recorded`);
          await rename(part, `${dir}/${e.meta.file}`);
          return e.meta.size;
        } catch (err) {
          // archive-get fetches it when recovery asks, and says what is wrong
          failed.push(`${e.meta.file}: ${errorMessage(err)}`);
          await rm(part, { force: true }).catch(() => undefined);
          return 0;
        }
      });
      return { files: written.filter((n) => n > 0).length, bytes: written.reduce((a, n) => a + n, 0), seconds: (Date.now() - t0) / 1000, failed };
    } finally {
      // whatever was not fetched comes through archive-get from now on
      await unlink(`${dir}/${FETCHING_FILE}`).catch(() => undefined);
    }
  };
  return { done: run(), abort: () => void (stopped = true) };
}

/** archive-get: writes an archived WAL file to `dest` (atomically); false when the archive does not hold it. */
export async function getWal(repo: Repository, source: PostgresSource, file: string, dest: string): Promise<boolean> {
  checkArchivedName(file);
  const entry = (await walEntries(repo, source.name)).filter((s) => s.meta.file === file).at(-1);
  if (!entry) return false;
  const tmp = `${dest}.safepoint-tmp`;
  let ok: boolean;
  try {
    await unlink(tmp).catch(() => undefined); // left by an interrupted call
    ok = await writeStreamChecked(repo, entry, file, entry.meta.sha256, tmp);
    if (ok) await rename(tmp, dest);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw new UserError(`cannot fetch WAL file ${file} into ${dest}: ${errorMessage(err)}`, { cause: err });
  }
  if (!ok) throw hashMismatch(file);
  return true;
}
