import type { Repository } from '../repo/repository.js';
import type { SnapshotWithId } from '../repo/snapshot.js';
import { shortId } from '../repo/ids.js';
import type { DbCheck, DatabaseDriver, DbRestoreTarget } from '../db/driver.js';
import type { DatabaseSource } from '../db/drivers.js';
import { UsageError } from '../util/errors.js';
import { runCommand, startServices, stopServices, type NamedService } from './services.js';
import type { PlanStep } from './plan.js';

export interface DatabaseRestoreRequest {
  readonly repo: Repository;
  readonly source: DatabaseSource;
  readonly driver: DatabaseDriver<DatabaseSource>;
  readonly snapshot: SnapshotWithId;
  readonly target: DbRestoreTarget;
  /** The services of the source (stopped before, started after), in config order. */
  readonly services: readonly NamedService[];
  /** The live database exists and would be overwritten. */
  readonly overwrites: boolean;
  /** Hears every check of the verify step with its detail (the step's own line only names them). */
  readonly onCheck?: (c: DbCheck) => void;
}

/**
 * The restore procedure of a database source (mission §3.2): stop the services that use it, take a safety backup
 * of the current state, restore with the database's own tools, verify integrity, restart the services and check
 * their health. Restoring somewhere else (`into`) leaves the services alone.
 */
export function databaseRestorePlan(r: DatabaseRestoreRequest): PlanStep[] {
  const where = r.target.into ?? r.driver.describe(r.source);
  const inPlace = r.target.into === undefined;
  const services = inPlace ? r.services : [];
  let safety: string | undefined;
  const undo = (): string =>
    safety ? `the state before the restore is snapshot ${shortId(safety)}: \`safepoint restore --source ${r.source.name} --snapshot ${shortId(safety)} --force\` puts it back` : 'nothing was overwritten';
  const restart = (): string => (services.length > 0 ? `; services ${services.map((s) => s.name).join(', ')} are stopped: start them when done` : '');
  return [
    {
      name: 'stop the services that use the database',
      run: async () => (services.length === 0 ? { skipped: inPlace ? 'no services configured for this source' : 'restoring elsewhere: the services keep running' } : stopServices(services)),
      onFailure: () => 'the database was not touched; fix the stop command and run the restore again',
    },
    {
      name: 'safety backup of the current state',
      run: async () => {
        if (!r.overwrites) return { skipped: `${where} does not exist yet: nothing to overwrite` };
        if (r.driver.movesAside) return { skipped: `the restore moves ${where} aside, unchanged, instead of overwriting it` };
        const { snapshotId } = await r.driver.backup(r.repo, r.source, { tags: ['safety'] });
        safety = snapshotId;
        return `snapshot ${shortId(snapshotId)} (tag safety) holds ${where} as it was`;
      },
      onFailure: () => `nothing was overwritten${restart()}`,
    },
    {
      name: `restore snapshot ${shortId(r.snapshot.id)} of ${r.snapshot.time}`,
      run: async () => {
        const out = await r.driver.restore(r.repo, r.snapshot, r.source, r.target, {});
        return `${out.target} restored (${(out.bytes / 1048576).toFixed(1)} MiB)${out.notes?.length ? `; ${out.notes.join('; ')}` : ''}`;
      },
      onFailure: () => `${undo()}${restart()}`,
    },
    {
      name: 'verify integrity',
      run: async () => {
        const checks = await r.driver.verify(r.source, r.snapshot, r.target);
        for (const c of r.source.checks) {
          if (!('command' in c)) continue;
          try {
            await runCommand(c.command, { env: { ...process.env, SAFEPOINT_RESTORED: where } });
            checks.push({ name: c.command, ok: true, detail: 'exit 0' });
          } catch (err) {
            checks.push({ name: c.command, ok: false, detail: err instanceof Error ? err.message : String(err) });
          }
        }
        for (const c of checks) r.onCheck?.(c);
        const bad = checks.filter((c) => !c.ok);
        if (bad.length > 0) throw new UsageError(`${bad.length} of ${checks.length} checks failed: ${bad.map((c) => `${c.name}: ${c.detail}`).join('; ')}`);
        return checks.map((c) => `${c.name} ok`).join(', ');
      },
      onFailure: () => `${undo()}${restart()}`,
    },
    ...(r.target.start && r.driver.startRestored
      ? [{
          name: 'start the restored server',
          run: async () => r.driver.startRestored!(r.source, r.target),
          onFailure: () => `the copy in ${where} is restored and verified; start it by hand`,
        }]
      : []),
    {
      name: 'start the services and check their health',
      run: async () => (services.length === 0 ? { skipped: 'no services to start' } : startServices(services)),
      onFailure: () => `the database is restored and verified; start the services by hand (${undo()})`,
    },
  ];
}
