/**
 * The SQLite database driver: online backups with SQLite's backup API, restores that install a checked copy
 * atomically, verification of a restored file. The database is one stream of the snapshot, `database.sqlite`.
 */
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, open, realpath, rename, rm, stat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import type { SqliteSource } from '../../config/schema.js';
import type { Snapshot } from '../../repo/snapshot.js';
import { backupStreams, readStream } from '../../snapshot/stream-backup.js';
import { IntegrityError, UserError, isErrno } from '../../util/errors.js';
import { dbSnapshotOptions, type DatabaseDriver } from '../driver.js';
import { runSqliteTask } from './sqlite-thread.js';

/** The name of the database copy in a SQLite snapshot. */
export const SQLITE_STREAM = 'database.sqlite';

/** Files SQLite keeps beside a database; they belong to that database file and to no other. */
const SIDE_FILES = ['-wal', '-shm', '-journal'] as const;

export const sqliteDriver: DatabaseDriver<SqliteSource> = {
  describe: (source) => `sqlite:${source.path}`,

  /**
   * A consistent copy of the live database as of one instant, taken while writers carry on (WAL mode; see
   * copyDatabase for rollback-journal mode), into a private temporary folder (0700, file 0600) removed afterwards,
   * then stored. The source is opened read-only (which may leave an empty `-wal` and `-shm` beside it, as any
   * read-only SQLite reader does). `meta` (row counts...) describes the stored copy exactly.
   */
  async backup(repo, source, o) {
    if (o.type !== undefined && o.type !== 'full') throw new UserError(`SQLite source ${source.name}: only full backups exist for SQLite (asked for ${o.type})`);
    const path = resolve(source.path);
    const st = await stat(path).catch((err: unknown) => {
      if (isErrno(err, 'ENOENT', 'ENOTDIR')) throw new UserError(`SQLite database ${path} does not exist (source ${source.name}: check its path)`, { cause: err });
      throw err;
    });
    if (!st.isFile()) throw new UserError(`SQLite database ${path} is not a file (source ${source.name}: check its path)`);
    const dir = await mkdtemp(join(tmpdir(), 'safepoint-sqlite-'));
    try {
      const copy = join(dir, SQLITE_STREAM);
      await (await open(copy, 'wx', 0o600)).close();
      const meta = await runSqliteTask('copy', [path, copy], o.signal);
      return await backupStreams(repo, [{ name: SQLITE_STREAM, data: createReadStream(copy, { highWaterMark: 1 << 20, signal: o.signal }) }], dbSnapshotOptions(source, o, { ...meta }, path));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },

  /** True when the target file holds data: non-empty, or a non-empty WAL (a new WAL database lives there first). */
  async exists(source, target) {
    const path = resolve(target.into ?? source.path);
    const size = async (p: string): Promise<number> => {
      const st = await stat(p).catch(() => undefined);
      return st?.isFile() ? st.size : 0;
    };
    return (await size(path)) > 0 || (await size(`${path}-wal`)) > 0;
  },

  /**
   * Installs the snapshot's copy at the target so that the target is, at every instant, either the old database or
   * the complete new one: the copy is written beside it (`.<name>.restore-<random>`, the old file's mode and owner),
   * fsynced, must pass `PRAGMA integrity_check` (else IntegrityError and the target is untouched), then is renamed
   * over the target and the folder fsynced. The target's `-wal`, `-shm` and `-journal` files are removed just before
   * the rename: they belong to the old database, and SQLite would replay an old WAL or hot journal into the new file
   * and corrupt it. Services using the database must be stopped (the restore procedure does it). A crash between
   * that removal and the rename leaves the old database without its WAL; running the restore again completes it.
   * A symbolic link is followed (SQLite keeps the side files beside the file it points to) and stays a link.
   */
  async restore(repo, snapshot, source, target, o) {
    const wanted = resolve(target.into ?? source.path);
    const path = await realpath(wanted).catch(() => wanted);
    const dir = dirname(path);
    await mkdir(dir, { recursive: true });
    const old = await stat(path).catch(() => undefined);
    const tmp = join(dir, `.${basename(path)}.restore-${randomBytes(6).toString('hex')}`);
    const notes: string[] = [];
    try {
      let bytes = await writeSynced(tmp, readStream(repo, snapshot, SQLITE_STREAM), old, o.signal);
      if (snapshot.meta?.mode === 'replica-base') {
        // a replicated generation: its segments up to the target, in order, onto the base copy
        const { pointFrom, replicaEntries, applySegments } = await import('./replica/replica-restore.js');
        const entries = await replicaEntries(repo, source.name);
        const base = entries.find((e) => e.time === snapshot.time && e.meta?.generation === snapshot.meta?.generation);
        if (!base) throw new UserError(`the replicated generation ${String(snapshot.meta.generation)} is not in the repository`);
        const point = pointFrom(entries, base, target.recovery?.kind === 'time' ? target.recovery.time : null);
        const fh = await open(tmp, 'r+');
        try {
          const commits = await applySegments(repo, point, fh);
          await fh.sync();
          bytes = (await fh.stat()).size;
          notes.push(`replayed ${point.segments.length} replicated WAL segments (${commits} transactions) onto the generation's base: the database as of ${point.time}`);
        } finally {
          await fh.close();
        }
      }
      const problems = await runSqliteTask('integrity', [tmp], o.signal);
      if (problems.length > 0) throw new IntegrityError(`the SQLite copy in the snapshot of ${snapshot.time} fails integrity_check (${problems.slice(0, 3).join('; ')}); ${path} was left untouched`);
      o.signal?.throwIfAborted();
      for (const side of SIDE_FILES) await rm(path + side, { force: true });
      await rename(tmp, path);
      await fsyncDir(dir);
      return { target: path, bytes, ...(notes.length > 0 ? { notes } : {}) };
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    } finally {
      // a read-only check of a WAL-mode copy leaves these beside it
      for (const side of SIDE_FILES) await rm(tmp + side, { force: true });
    }
  },

  /** Read-only checks of the restored file; see verifyDatabase. `command` checks are run by the caller. */
  async verify(source, snapshot, target) {
    const queries = source.checks.flatMap((c) => ('sql' in c ? [c.sql] : []));
    const checks = await runSqliteTask('verify', [resolve(target.into ?? source.path), recordedCounts(snapshot), queries]);
    if (snapshot.meta?.mode !== 'replica-base') return checks;
    // a replicated state has no counts recorded: its frames were checked (salts, checksums) as they were shipped
    return checks.map((c) => (c.name === 'row counts' ? { name: c.name, ok: true, detail: 'not recorded for replicated states: every WAL frame was checked when it was shipped, and the chain before the restore' } : c));
  },
};

/** `meta.tables` of a snapshot, when it is a table → row count map. */
function recordedCounts(snapshot: Snapshot): Record<string, number> | undefined {
  const tables = snapshot.meta?.tables;
  if (typeof tables !== 'object' || tables === null || Array.isArray(tables)) return undefined;
  return Object.values(tables).every((n) => typeof n === 'number') ? (tables as Record<string, number>) : undefined;
}

/** Writes a new file (mode and owner of `like` when given, else 0600), fsynced; returns its size. */
async function writeSynced(path: string, data: AsyncIterable<Buffer>, like: { mode: number; uid: number; gid: number } | undefined, signal?: AbortSignal): Promise<number> {
  const fh = await open(path, 'wx', 0o600);
  let bytes = 0;
  try {
    await fh.chmod(like ? like.mode & 0o7777 : 0o600);
    if (like && process.getuid?.() === 0) await fh.chown(like.uid, like.gid);
    for await (const chunk of data) {
      signal?.throwIfAborted();
      for (let at = 0; at < chunk.length; ) at += (await fh.write(chunk, at)).bytesWritten;
      bytes += chunk.length;
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  return bytes;
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
