import { findService } from '../config/lookup.js';
import type { LoadedConfig } from '../config/load.js';
import { driverFor, type DatabaseSource } from '../db/drivers.js';
import { shortId } from '../repo/ids.js';
import { findSnapshot, isContinuous, loadSnapshots, type SnapshotWithId } from '../repo/snapshot.js';
import type { Repository } from '../repo/repository.js';
import type { PostgresSource, SqliteSource } from '../config/schema-sources.js';
import type { DbRestoreTarget } from '../db/driver.js';
import { BACKUP_TYPES, baseBackups } from '../db/postgres/base-backup.js';
import { chooseBase, describeTarget, recoveryTarget, type RecoveryFlags, type RecoveryTarget } from '../db/postgres/recovery.js';
import { archiveGetCommand } from './pg.js';
import { databaseRestorePlan } from '../restore/database.js';
import { runReportedPlan } from './plan-output.js';
import { SafepointError, UsageError, errorMessage } from '../util/errors.js';
import { formatBytes, formatSeconds } from '../util/format.js';
import type { Context } from './context.js';
import { progress } from './progress.js';
import { readJournal } from '../journal/journal.js';
import { lastDrillTimes } from '../drill/estimate.js';

/** `safepoint backup --source NAME` of a database source: one snapshot of its dump or copy. */
export async function runDatabaseBackup(c: Context, source: DatabaseSource, flags: { tag: string[]; type?: string }): Promise<number> {
  const word = flags.type ?? 'full';
  const type = BACKUP_TYPES[word];
  if (type === undefined) throw new UsageError(`--type ${word}: expected full, diff or incr`);
  const physical = source.type !== 'sqlite' && source.mode === 'physical';
  if (type !== 'full' && !physical) {
    throw new UsageError(`--type ${word}: ${source.type} ${source.type === 'sqlite' ? 'backups' : `${source.mode} backups`} are always full (consistent copies); diff and incr need mode: physical`);
  }
  const driver = await driverFor(source);
  return c.withRepository('backup', 'shared', async (repo) => {
    c.out.info(`backing up ${driver.describe(source)} (source ${source.name})`);
    // the size to expect: what the last backup of the same type read (a database grows slowly); none for the first,
    // and none once this one has read more (no "100 %, ETA 0" while it goes on)
    const expected = c.out.tty || c.out.json ? await previousSize(repo, source.name, type) : null;
    const p = progress(c.out, 'backup', { unit: 'bytes' });
    const phase = source.type === 'sqlite' ? 'copying' : physical ? 'copying the data directory' : 'dumping';
    const { snapshotId, snapshot } = await driver.backup(repo, source, { tags: flags.tag, type, onProgress: (bytes) => p({ phase, done: bytes, total: expected !== null && bytes < expected ? expected : null, fields: { bytes_done: bytes } }) });
    p.end();
    const s = snapshot.summary;
    c.out.event({ message_type: 'summary', ...s, snapshot_id: snapshotId, source: source.name, meta: snapshot.meta ?? null });
    c.out.info(`read ${formatBytes(s.total_bytes_processed)}, added ${formatBytes(s.data_added)} to the repository in ${formatSeconds(s.total_duration)}`);
    for (const w of (snapshot.meta?.warnings as string[] | undefined) ?? []) c.out.warn(w);
    if (source.type === 'mariadb' && source.mode === 'physical') {
      // the binlog the backup ends in is closed and archived with the others: a later --target-time needs it
      const { syncBinlogs } = await import('../db/mariadb/binlog.js');
      try {
        const b = await syncBinlogs(repo, source, { flush: true });
        if (b.enabled) c.out.info(`binlogs: ${b.stored.length} archived (${formatBytes(b.bytes)})`);
      } catch (err) {
        c.out.warn(`binlogs not archived: ${errorMessage(err)}`);
      }
    }
    c.out.info(`${snapshot.type} snapshot ${shortId(snapshotId)} saved`);
    return 0;
  }, source.name);
}

/** Bytes the last backup of `source` of this type read, or null when there is none. */
async function previousSize(repo: Repository, source: string, type: string): Promise<number | null> {
  const last = (await loadSnapshots(repo, { source })).filter((s) => s.type === type && !isContinuous(s) && !s.tags.includes('safety')).at(-1);
  return last && last.summary.total_bytes_processed > 0 ? last.summary.total_bytes_processed : null;
}

export interface DatabaseRestoreFlags extends RecoveryFlags {
  snapshot?: string;
  into?: string;
  dryRun?: boolean;
  force?: boolean;
  port?: string;
  start?: boolean;
}

/**
 * The snapshot a SQLite restore starts from: with --target-time, the replicated generation that reaches it (or the
 * last backup before it when nothing was replicated); without, the newest of the last backup and the replica.
 */
async function sqliteChoice(repo: Repository, source: SqliteSource, flags: DatabaseRestoreFlags): Promise<SnapshotWithId | undefined> {
  const asked = recoveryTarget(flags);
  if (asked && asked.kind !== 'time') throw new UsageError(`SQLite sources restore to a point in time with --target-time; ${describeTarget(asked)} is a PostgreSQL target`);
  const all = await loadSnapshots(repo, { source: source.name });
  const t = asked?.kind === 'time' ? asked.time.getTime() : Number.POSITIVE_INFINITY;
  const backup = all.filter((s) => !s.tags.includes('safety') && !isContinuous(s) && Date.parse(s.time) <= t).at(-1);
  const { replicaPoint } = await import('../db/sqlite/replica/replica-restore.js');
  const point = replicaPoint(all.filter((s) => s.tags.includes('replica')), asked?.kind === 'time' ? asked.time : null);
  if (point && (!backup || Date.parse(point.time) >= Date.parse(backup.time))) return point.base;
  if (!backup && asked) throw new UsageError(`source ${source.name} has no backup and no replicated state at or before ${asked.time.toISOString()}`);
  return backup;
}

/** The base backup a PostgreSQL physical restore starts from, and how far it recovers. */
async function physicalPlan(c: Context, repo: Repository, source: PostgresSource, flags: DatabaseRestoreFlags): Promise<{ snapshot: SnapshotWithId | undefined; recovery: RecoveryTarget | undefined; restoreCommand: string | undefined }> {
  const asked = recoveryTarget(flags);
  if (asked && asked.kind !== 'immediate' && !source.wal_archiving) {
    throw new UsageError(`recovery to ${describeTarget(asked)} replays archived WAL: source ${source.name} needs wal_archiving: true (and archive_command = 'safepoint pg archive-push %p')`);
  }
  const recovery = asked ?? (source.wal_archiving ? ({ kind: 'latest' } as const) : undefined);
  const restoreCommand = source.wal_archiving ? archiveGetCommand(c, source) : undefined;
  if (flags.snapshot && flags.snapshot !== 'latest') return { snapshot: await findSnapshot(repo, flags.snapshot), recovery, restoreCommand };
  const bases = (await baseBackups(repo, source.name)).filter((s) => !s.tags.includes('safety'));
  const snapshot = chooseBase(bases, recovery ?? { kind: 'latest' }) ?? undefined;
  if (!snapshot && recovery && bases.length > 0) throw new UsageError(`no base backup of source ${source.name} is old enough to reach ${describeTarget(recovery)}: the oldest became consistent at ${(bases[0]!.meta as { stop_time?: string }).stop_time ?? bases[0]!.time}`);
  return { snapshot, recovery, restoreCommand };
}

/** `safepoint restore --source NAME`: the restore procedure of a database source, step by step. */
export async function runDatabaseRestore(c: Context, cfg: LoadedConfig, source: DatabaseSource, flags: DatabaseRestoreFlags): Promise<number> {
  const driver = await driverFor(source);
  const services = source.services.map((name) => findService(cfg, name));
  return c.withRepository('restore', 'shared', async (repo) => {
    const pitr = source.type === 'postgres' && source.mode === 'physical' ? await physicalPlan(c, repo, source, flags) : null;
    const rollForward = source.type === 'mariadb' && source.mode === 'physical' ? recoveryTarget(flags) : null;
    if (rollForward && rollForward.kind !== 'time') throw new UsageError(`MariaDB restores to a point in time with --target-time (binlog replay); ${describeTarget(rollForward)} is a PostgreSQL target`);
    if (!pitr && !rollForward && source.type !== 'sqlite' && recoveryTarget(flags)) throw new UsageError(`recovery targets (--target-time, --target-lsn, --target-name, --target-xid, --target immediate) apply to PostgreSQL sources in mode: physical, not source ${source.name}`);
    if (!pitr && (flags.start || flags.port !== undefined)) throw new UsageError('--start and --port apply to PostgreSQL sources in mode: physical');
    const snapshot = pitr
      ? pitr.snapshot
      : rollForward?.kind === 'time' && !(flags.snapshot && flags.snapshot !== 'latest')
        ? (await loadSnapshots(repo, { source: source.name })).filter((s) => !s.tags.includes('safety') && !isContinuous(s) && s.meta?.binlog && Date.parse(s.summary.backup_end) <= rollForward.time.getTime()).at(-1)
      : flags.snapshot && flags.snapshot !== 'latest'
        ? await findSnapshot(repo, flags.snapshot)
        : source.type === 'sqlite'
          ? await sqliteChoice(repo, source, flags)
          : (await loadSnapshots(repo, { source: source.name })).filter((s) => !s.tags.includes('safety') && !isContinuous(s)).at(-1);
    if (!snapshot) throw new UsageError(`source ${source.name} has no snapshot yet: run \`safepoint backup --source ${source.name}\` first`);
    if (snapshot.source !== source.name) throw new UsageError(`snapshot ${shortId(snapshot.id)} belongs to source ${snapshot.source ?? '(none)'}, not ${source.name}`);
    if (flags.start && flags.into === undefined) throw new UsageError('--start starts a server on a copy restored elsewhere: add --into DIR (in place, the services start the server)');
    const port = flags.port === undefined ? undefined : Number(flags.port);
    if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) throw new UsageError(`--port ${flags.port}: expected a TCP port (1-65535)`);
    const target: DbRestoreTarget = {
      ...(flags.into !== undefined ? { into: flags.into } : {}),
      ...(pitr?.recovery ? { recovery: pitr.recovery } : {}),
      ...((source.type === 'sqlite' || rollForward) && recoveryTarget(flags) ? { recovery: recoveryTarget(flags)! } : {}),
      ...(pitr?.restoreCommand ? { restoreCommand: pitr.restoreCommand } : {}),
      ...(flags.start ? { start: true } : {}),
      ...(port !== undefined ? { port } : {}),
    };
    const overwrites = await driver.exists(source, target);
    const where = flags.into ?? driver.describe(source);
    if (overwrites && !flags.force && !flags.dryRun) {
      throw new UsageError(`${where} exists and the restore would replace it: add --force (a safety backup is taken first), or restore elsewhere with --into`);
    }
    c.out.info(`${flags.dryRun ? 'plan to restore' : 'restoring'} snapshot ${shortId(snapshot.id)} (${snapshot.time}) of source ${source.name} into ${where}${target.recovery ? `, recovering to ${describeTarget(target.recovery)}` : ''}`);
    const plan = databaseRestorePlan({ repo, source, driver, snapshot, target, services, overwrites, onCheck: (ch) => c.out.event({ message_type: 'check', name: ch.name, ok: ch.ok, detail: ch.detail }) });
    // the ETA of a restore: how long the last drill of this source took to restore and verify it (on a terminal)
    const estimate = c.out.tty && !flags.dryRun ? lastDrillTimes((await readJournal(repo)).entries).get(source.name) ?? null : null;
    const { ok, reports, total } = await runReportedPlan(c, plan, flags.dryRun ?? false, { operation: 'restore', estimateSeconds: estimate });
    c.out.event({ message_type: 'summary', ok, snapshot_id: snapshot.id, source: source.name, target: where, total_duration: total, dry_run: flags.dryRun ?? false });
    if (!ok) {
      const failed = reports.find((r) => r.status === 'error');
      throw new SafepointError(`restore of ${source.name} stopped at step ${failed?.step ?? '?'} (${failed?.name ?? ''}): see the report above`);
    }
    c.out.info(flags.dryRun ? 'dry run: nothing was changed' : `restored and verified in ${total.toFixed(2)} s`);
    return 0;
  }, source.name);
}
