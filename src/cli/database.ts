import { findService } from '../config/lookup.js';
import type { LoadedConfig } from '../config/load.js';
import { driverFor, type DatabaseSource } from '../db/drivers.js';
import { shortId } from '../repo/ids.js';
import { findSnapshot, loadSnapshots } from '../repo/snapshot.js';
import { databaseRestorePlan } from '../restore/database.js';
import { runPlan } from '../restore/plan.js';
import { SafepointError, UsageError } from '../util/errors.js';
import { formatBytes, formatSeconds } from '../util/format.js';
import type { Context } from './context.js';
import { throttle } from './output.js';

/** `safepoint backup --source NAME` of a database source: one snapshot of its dump or copy. */
export async function runDatabaseBackup(c: Context, source: DatabaseSource, flags: { tag: string[]; type?: string }): Promise<number> {
  const type = flags.type ?? 'full';
  if (type !== 'full') {
    const physical = source.type !== 'sqlite' && source.mode === 'physical';
    throw new UsageError(physical ? `--type ${type}: differential and incremental physical backups are not built yet; only full` : `--type ${type}: ${source.type} ${source.type === 'sqlite' ? 'backups' : `${source.mode} backups`} are always full (consistent copies); diff and incr need mode: physical`);
  }
  const driver = await driverFor(source);
  return c.withRepository('backup', 'shared', async (repo) => {
    c.out.info(`backing up ${driver.describe(source)} (source ${source.name})`);
    const started = Date.now();
    const show = throttle(c.out.json ? 1000 : 150, (bytes: number) => {
      if (c.out.json) c.out.event({ message_type: 'status', seconds_elapsed: Math.round((Date.now() - started) / 1000), bytes_done: bytes });
      else c.out.status(`[${formatSeconds((Date.now() - started) / 1000)}] ${formatBytes(bytes)}`);
    });
    const { snapshotId, snapshot } = await driver.backup(repo, source, { tags: flags.tag, type: 'full', onProgress: show });
    c.out.clearStatus();
    const s = snapshot.summary;
    c.out.event({ message_type: 'summary', ...s, snapshot_id: snapshotId, source: source.name, meta: snapshot.meta ?? null });
    c.out.info(`read ${formatBytes(s.total_bytes_processed)}, added ${formatBytes(s.data_added)} to the repository in ${formatSeconds(s.total_duration)}`);
    c.out.info(`snapshot ${shortId(snapshotId)} saved`);
    return 0;
  }, source.name);
}

export interface DatabaseRestoreFlags {
  snapshot?: string;
  into?: string;
  dryRun?: boolean;
  force?: boolean;
}

/** `safepoint restore --source NAME`: the restore procedure of a database source, step by step. */
export async function runDatabaseRestore(c: Context, cfg: LoadedConfig, source: DatabaseSource, flags: DatabaseRestoreFlags): Promise<number> {
  const driver = await driverFor(source);
  const services = source.services.map((name) => findService(cfg, name));
  return c.withRepository('restore', 'shared', async (repo) => {
    const snapshot = flags.snapshot && flags.snapshot !== 'latest' ? await findSnapshot(repo, flags.snapshot) : (await loadSnapshots(repo, { source: source.name })).filter((s) => !s.tags.includes('safety')).at(-1);
    if (!snapshot) throw new UsageError(`source ${source.name} has no snapshot yet: run \`safepoint backup --source ${source.name}\` first`);
    if (snapshot.source !== source.name) throw new UsageError(`snapshot ${shortId(snapshot.id)} belongs to source ${snapshot.source ?? '(none)'}, not ${source.name}`);
    const target = flags.into !== undefined ? { into: flags.into } : {};
    const overwrites = await driver.exists(source, target);
    const where = flags.into ?? driver.describe(source);
    if (overwrites && !flags.force && !flags.dryRun) {
      throw new UsageError(`${where} exists and the restore would replace it: add --force (a safety backup is taken first), or restore elsewhere with --into`);
    }
    c.out.info(`${flags.dryRun ? 'plan to restore' : 'restoring'} snapshot ${shortId(snapshot.id)} (${snapshot.time}) of source ${source.name} into ${where}`);
    const plan = databaseRestorePlan({ repo, source, driver, snapshot, target, services, overwrites });
    const { ok, reports } = await runPlan(plan, {
      dryRun: flags.dryRun ?? false,
      onStep: (r) => {
        c.out.event({ message_type: 'step', ...r });
        const label = { success: 'Success', error: 'Error', not_executed: 'NotExecuted', skipped: 'Skipped' }[r.status];
        c.out.info(`${String(r.step).padStart(2)}. ${r.name}: ${label} (${r.seconds.toFixed(2)} s)${r.detail ? `\n    ${r.detail}` : ''}`);
      },
    });
    const total = reports.reduce((n, r) => n + r.seconds, 0);
    c.out.event({ message_type: 'summary', ok, snapshot_id: snapshot.id, source: source.name, target: where, total_duration: total, dry_run: flags.dryRun ?? false });
    if (!ok) {
      const failed = reports.find((r) => r.status === 'error');
      throw new SafepointError(`restore of ${source.name} stopped at step ${failed?.step ?? '?'} (${failed?.name ?? ''}): see the report above`);
    }
    c.out.info(flags.dryRun ? 'dry run: nothing was changed' : `restored and verified in ${total.toFixed(2)} s`);
    return 0;
  }, source.name);
}
