/**
 * PostgreSQL base backups through the backup API (pg_backup_start / pg_backup_stop, non-exclusive), read file by
 * file by the snapshot archiver: `full` reads every file, `diff` reuses the files unchanged since the last full
 * backup, `incr` those unchanged since the last backup of any type (pgBackRest's words). Every type is a complete
 * data directory in the repository (unchanged files point at the same chunks), so restoring one never replays a
 * chain. The WAL from the backup's start to its end is copied into the snapshot (a temporary replication slot keeps
 * it from being recycled meanwhile), so a base backup is consistent on its own, with or without WAL archiving.
 */
import { randomBytes } from 'node:crypto';
import { readFile, realpath, stat } from 'node:fs/promises';
import { basename, join, relative, sep } from 'node:path';
import type { PostgresSource } from '../../config/schema-sources.js';
import type { Repository } from '../../repo/repository.js';
import { loadSnapshots, type BackupType, type Snapshot, type SnapshotCounts, type SnapshotWithId } from '../../repo/snapshot.js';
import { saveTree, type TreeNode } from '../../repo/tree.js';
import { backup as archive } from '../../snapshot/archiver.js';
import { saveStreamNode } from '../../snapshot/stream-backup.js';
import { systemClock } from '../../util/clock.js';
import { UsageError, UserError, errorMessage, isErrno } from '../../util/errors.js';
import { currentUser } from '../../util/user.js';
import type { DbBackupOptions } from '../driver.js';
import { describePostgres, readTableActivity, type TableActivity } from './logical.js';
import { PsqlSession } from './pg-tools.js';
import { quoteLiteral } from './pg-sql.js';
import { parseLsn, parseSegmentSize, segmentOf, segmentRange } from './wal.js';
import { readArchivedWal } from './wal-archive.js';

/** The root entry of a base backup snapshot holding what pg_backup_stop hands over: backup_label, tablespace_map, wal/. */
export const BACKUP_END_DIR = '.pg_backup';

/** What a physical backup records in snapshot.meta. */
export interface PostgresPhysicalMeta {
  readonly kind: 'postgres';
  readonly mode: 'physical';
  readonly format: 'tree';
  /** Name of the root entry holding the data directory. */
  readonly data_node: string;
  readonly data_directory: string;
  readonly server_version: string;
  readonly server_version_num: number;
  /** pg_control_system(): the cluster's identity; null when the role may not read it. */
  readonly system_identifier: string | null;
  readonly data_checksums: boolean;
  readonly wal_segment_size: number;
  /** WAL start / end of the backup, `X/Y`; the restored copy is consistent from stop_lsn on. */
  start_lsn: string;
  stop_lsn: string | null;
  timeline: number;
  /** When pg_backup_stop returned: the earliest time a point-in-time recovery from this backup can reach. */
  stop_time: string | null;
  /** The WAL segments copied into the snapshot. */
  wal_segments: string[];
  /** The named restore point made after the backup (pg_create_restore_point), with its LSN; null without WAL archiving. */
  restore_point: { name: string; lsn: string } | null;
  /** Row counters per table of the source's configured database at backup start (anomaly scan); absent when unreadable. */
  readonly table_activity?: Record<string, TableActivity>;
  /** pg_stat_database.stats_reset of that database (ISO, UTC). */
  readonly stats_reset?: string | null;
  readonly warnings: string[];
}

/** The words of the CLI, the words of the snapshot. */
export const BACKUP_TYPES: Record<string, BackupType> = { full: 'full', diff: 'differential', incr: 'incremental' };

/** Files and folder contents a base backup leaves out (as pg_basebackup does): the server recreates them. */
const SKIP_CONTENTS = new Set(['pg_wal', 'pg_dynshmem', 'pg_notify', 'pg_serial', 'pg_snapshots', 'pg_stat_tmp', 'pg_subtrans', 'pg_replslot']);
const SKIP_FILES = new Set(['postmaster.pid', 'postmaster.opts', 'backup_label', 'tablespace_map', 'backup_manifest', 'recovery.signal', 'standby.signal', 'backup_label.old', 'recovery.done']);

/** The excluder of a data directory's base backup. */
export function baseBackupExcluder(dataDir: string): (absPath: string) => boolean {
  return (p) => {
    const rel = relative(dataDir, p);
    const parts = rel.split(sep);
    const name = parts.at(-1) ?? '';
    if (name === 'pg_internal.init' || name.startsWith('pgsql_tmp')) return true;
    if (parts.length === 1) return SKIP_FILES.has(name);
    // keep pg_wal/archive_status (the server expects it), not what is in it
    if (parts.length === 2 && parts[0] === 'pg_wal' && name === 'archive_status') return false;
    return SKIP_CONTENTS.has(parts[0] ?? '');
  };
}

/** Physical base backups of this source, oldest first (WAL archive entries and older formats left out). */
export async function baseBackups(repo: Repository, sourceName: string): Promise<SnapshotWithId[]> {
  return (await loadSnapshots(repo, { source: sourceName })).filter((s) => s.meta?.kind === 'postgres' && s.meta.mode === 'physical' && s.meta.format === 'tree');
}

/** The parent a backup of `type` reads against, or null (full, or no backup to build on). */
export function parentFor(type: BackupType, previous: readonly SnapshotWithId[], systemId: string | null): SnapshotWithId | null {
  const same = previous.filter((s) => s.complete && !s.tags.includes('safety') && (systemId === null || s.meta?.system_identifier === systemId));
  if (type === 'full') return null;
  if (type === 'differential') return same.filter((s) => s.type === 'full').at(-1) ?? null;
  return same.at(-1) ?? null;
}

const INFO_SQL = `SELECT current_setting('server_version'), current_setting('server_version_num'), current_setting('data_checksums'),
  (SELECT coalesce(string_agg(spcname, ', ' ORDER BY spcname), '') FROM pg_catalog.pg_tablespace WHERE spcname NOT IN ('pg_default', 'pg_global')),
  pg_catalog.pg_is_in_recovery(), current_setting('data_directory'), current_setting('wal_segment_size'),
  (SELECT system_identifier FROM pg_catalog.pg_control_system());`;

function timestamp(d: Date): string {
  return d.toISOString().slice(0, 19).replace(/-|:/g, '').replace('T', '_');
}

function dirNode(name: string, subtree: string): TreeNode {
  const user = currentUser();
  const ns = `${BigInt(systemClock.now().getTime()) * 1_000_000n}`;
  return { name, type: 'dir', mode: 0o700, uid: user.uid, gid: user.gid, mtime: ns, ctime: ns, inode: 0, dev: 0, nlink: 1, size: 0, subtree };
}

/** Backs up the cluster of `source` as a base backup of `o.type` (default full). */
export async function baseBackup(repo: Repository, source: PostgresSource, o: DbBackupOptions): Promise<{ snapshotId: string; snapshot: Snapshot }> {
  if (source.data_directory === undefined) {
    throw new UsageError(`source ${source.name}: a physical backup reads the server's files: set data_directory (e.g. /var/lib/postgresql/15/main) and run safepoint on the database host as the server's OS user (or root)`);
  }
  await repo.loadIndex();
  const database = source.connection.database;
  const so = o.signal ? { signal: o.signal } : {};
  const session = await PsqlSession.open(source, database, so);
  try {
    const [[version = '', versionNum = '0', checksums = 'off', tablespaces = '', recovery = 'f', serverDir = '', segSetting = '16MB', sysid = ''] = []] = await session.query(INFO_SQL);
    if (recovery === 't') throw new UserError(`${describePostgres(source)} is a standby: base backups are taken from the primary`);
    if (tablespaces !== '') throw new UserError(`${describePostgres(source)} has tablespaces outside the data directory (${tablespaces}): physical backups of clusters with tablespaces are not supported yet; use mode: logical`);
    if (Number(versionNum) < 100000) throw new UserError(`${describePostgres(source)} runs PostgreSQL ${version}: physical backups need PostgreSQL 10 or later`);
    const dataDir = await checkDataDir(source, source.data_directory, serverDir);
    const segmentSize = parseSegmentSize(segSetting);
    const systemId = sysid === '' ? null : sysid;
    const type = o.type ?? 'full';
    const warnings: string[] = [];
    const parent = parentFor(type, await baseBackups(repo, source.name), systemId);
    let effective = type;
    if (type !== 'full' && parent === null) {
      effective = 'full';
      warnings.push(`no full backup of this cluster to build on: this ${type} backup was taken as full`);
    }
    const activity = await readTableActivity(session, warnings, false);

    // A temporary slot (dropped when the session ends) holds the WAL of the backup until we have copied it.
    const slot = `safepoint_${process.pid}_${randomBytes(3).toString('hex')}`;
    try {
      await session.query(`SELECT 1 FROM pg_catalog.pg_create_physical_replication_slot(${quoteLiteral(slot)}, true, true);`);
    } catch (err) {
      warnings.push(`no temporary replication slot (${errorMessage(err)}): the backup's WAL may be recycled before it is copied; allow max_replication_slots or keep wal_keep_size`);
    }
    const label = `safepoint ${systemClock.now().toISOString()}`;
    const v15 = Number(versionNum) >= 150000;
    const [[startLsn = '', timeline = '1'] = []] = await session.query(
      `SELECT lsn, (SELECT timeline_id FROM pg_catalog.pg_control_checkpoint()) FROM ${v15 ? `pg_catalog.pg_backup_start(${quoteLiteral(label)}, true)` : `pg_catalog.pg_start_backup(${quoteLiteral(label)}, true, false)`} AS lsn;`,
    );
    const meta: PostgresPhysicalMeta = {
      kind: 'postgres', mode: 'physical', format: 'tree', data_node: basename(dataDir), data_directory: dataDir,
      server_version: version, server_version_num: Number(versionNum), system_identifier: systemId, data_checksums: checksums === 'on',
      wal_segment_size: segmentSize, start_lsn: startLsn, stop_lsn: null, timeline: Number(timeline), stop_time: null, wal_segments: [], restore_point: null, ...activity, warnings,
    };

    const stopBackup = async (counts: SnapshotCounts): Promise<TreeNode[]> => {
      const [[stopLsn = '', labelHex = '', mapHex = ''] = []] = await session.query(
        `SELECT lsn, encode(convert_to(labelfile, 'UTF8'), 'hex'), encode(convert_to(coalesce(spcmapfile, ''), 'UTF8'), 'hex') FROM ${v15 ? 'pg_catalog.pg_backup_stop(false)' : 'pg_catalog.pg_stop_backup(false, false)'};`,
      );
      meta.stop_lsn = stopLsn;
      meta.stop_time = systemClock.now().toISOString();
      // the segment holding the last byte before the backup-end record's end: what recovery must read to be consistent
      const first = segmentOf(meta.timeline, parseLsn(startLsn), segmentSize);
      const last = segmentOf(meta.timeline, parseLsn(stopLsn) - 1n, segmentSize);
      const segments = segmentRange(first, last < first ? first : last, segmentSize);
      const wal: TreeNode[] = [];
      for (const name of segments) {
        const data = await walSegment(repo, source, dataDir, name);
        wal.push(await saveStreamNode(repo, { name, data: [data] }, counts, o.onProgress ? (n) => o.onProgress?.(n) : undefined));
      }
      meta.wal_segments = segments;
      const files = [await saveStreamNode(repo, { name: 'backup_label', data: [Buffer.from(labelHex, 'hex')] }, counts)];
      if (mapHex !== '') files.push(await saveStreamNode(repo, { name: 'tablespace_map', data: [Buffer.from(mapHex, 'hex')] }, counts));
      const walTree = await saveTree(repo, wal);
      files.push(dirNode('wal', walTree.id));
      const end = await saveTree(repo, files);
      for (const t of [walTree, end]) {
        if (t.known) continue;
        counts.tree_blobs++;
        counts.data_added += t.stored;
      }
      if (source.wal_archiving) {
        const name = `safepoint-${source.name}-${timestamp(systemClock.now())}`;
        try {
          const [[lsn = ''] = []] = await session.query(`SELECT pg_catalog.pg_create_restore_point(${quoteLiteral(name)});`);
          meta.restore_point = { name, lsn };
        } catch (err) {
          warnings.push(`restore point ${name} not created: ${errorMessage(err)}`);
        }
      }
      return [dirNode(BACKUP_END_DIR, end.id)];
    };

    return await archive(repo, {
      paths: [dataDir],
      excluder: baseBackupExcluder(dataDir),
      tags: [...new Set([...source.tags, ...(o.tags ?? [])])],
      source: source.name,
      parent,
      type: effective,
      // a file written in the parent's first seconds may have changed again in the same clock tick: read it again
      ...(parent ? { reuseBefore: BigInt(Date.parse(parent.summary.backup_start) - 2000) * 1_000_000n } : {}),
      ignoreVanished: true,
      meta: meta as unknown as Record<string, unknown>,
      extraRoot: stopBackup,
      onProgress: (p) => o.onProgress?.(p.bytes),
    });
  } finally {
    // a backup that failed midway is still in backup mode: it ends with the session (non-exclusive backups do)
    await session.close();
  }
}

/** The data directory, checked to be the server's own (a base backup of another folder would be useless). */
async function checkDataDir(source: PostgresSource, configured: string, serverDir: string): Promise<string> {
  let dir: string;
  try {
    dir = await realpath(configured);
    await stat(join(dir, 'PG_VERSION'));
  } catch (err) {
    const why = isErrno(err, 'EACCES') ? 'permission denied: run safepoint as the server\'s OS user (or root)' : isErrno(err, 'ENOENT') ? 'no PG_VERSION there' : errorMessage(err);
    throw new UserError(`source ${source.name}: data_directory ${configured} is not readable as a PostgreSQL data directory (${why})`, { cause: err });
  }
  const server = await realpath(serverDir).catch(() => serverDir);
  if (serverDir !== '' && server !== dir) {
    throw new UserError(`source ${source.name}: data_directory ${configured} is not the directory of the server at ${describePostgres(source)} (${serverDir}): fix data_directory`);
  }
  return dir;
}

/** A WAL segment the backup needs: from pg_wal, else (recycled meanwhile) from the WAL archive. */
async function walSegment(repo: Repository, source: PostgresSource, dataDir: string, name: string): Promise<Buffer> {
  try {
    return await readFile(join(dataDir, 'pg_wal', name));
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
  }
  const archived = source.wal_archiving ? await readArchivedWal(repo, source.name, name) : null;
  if (archived) return archived;
  throw new UserError(`WAL segment ${name} was removed before the backup could copy it: allow a replication slot (max_replication_slots > 0) or keep more WAL (wal_keep_size), then back up again`);
}
