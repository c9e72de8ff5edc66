/**
 * `safepoint deploy`, `safepoint rollback deploy`, `safepoint releases`: Capistrano-style releases with a restore
 * point each, an atomic switch of `current`, health checks, and the way back — by hand or automatically when the
 * health checks fail after the switch (Argo Rollouts' analysis).
 */
import type { Command } from 'commander';
import { rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { LoadedConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { checkoutFromBundle, cloneAt } from '../deploy/checkout.js';
import { placeSnapshot, type Placed } from '../deploy/config-restore.js';
import { linkShared, migrationsRun, runScripts, watchHealth, type ScriptRun } from '../deploy/release-steps.js';
import { listReleases, liveRelease, pruneReleases, readRecord, releaseId, switchCurrent, writeRecord, type ReleaseRecord } from '../deploy/release.js';
import { changedPaths, git, workTree } from '../git/git.js';
import { parsePoint } from '../git/restore-point.js';
import { shortId } from '../repo/ids.js';
import { findSnapshot } from '../repo/snapshot.js';
import type { PlanStep } from '../restore/plan.js';
import { checkHealth } from '../restore/services.js';
import { SafepointError, UsageError, UserError, errorMessage } from '../util/errors.js';
import { runBackup } from './backup.js';
import { codeSources } from '../config/lookup.js';
import type { Context } from './context.js';
import { runReportedPlan } from './plan-output.js';
import { createPoint } from './point.js';

type DeployConfig = NonNullable<Config['deploy']>;

function deployConfig(cfg: LoadedConfig): DeployConfig {
  if (!cfg.deploy) throw new UsageError(`${cfg.file} has no deploy section: add deploy.git, deploy.releases_dir and deploy.current`);
  return cfg.deploy;
}

function releaseEnv(release: string, commit: string, previous: string | null): NodeJS.ProcessEnv {
  return { ...process.env, SAFEPOINT_RELEASE: release, SAFEPOINT_COMMIT: commit, SAFEPOINT_PREVIOUS_RELEASE: previous ?? '' };
}

export function registerDeploy(program: Command, ctx: () => Context): void {
  program
    .command('deploy')
    .description('deploy a revision as a new release (releases_dir/<id>): check out, link shared files, make a restore point, run the scripts, switch `current` atomically, run the health checks; a release that fails them is rolled back')
    .option('--rev <rev>', 'the revision to deploy (branch, tag, commit)', 'HEAD')
    .option('--auto-rollback', 'after the switch, keep checking health for deploy.auto_rollback.window and roll back by itself when failure_limit checks fail')
    .option('--no-point', 'do not make a restore point for the release')
    .option('--allow-dirty', "deploy from the project's own checkout even with uncommitted changes (they are not deployed)")
    .option('--dry-run', 'print the plan without running it')
    .action(async (f: DeployFlags) => {
      process.exitCode = await runDeploy(ctx(), f);
    });
  program
    .command('rollback')
    .description('roll back an incident: `rollback deploy` (a failed deployment: the previous healthy release with its configuration), `rollback data` (data corruption: a database to an earlier time), `rollback attack` (a security attack: everything to the last clean point)')
    .command('deploy')
    .description('switch `current` back to the previous healthy release (failed ones are skipped) or --to RELEASE, restoring its configuration (a safety backup first), then run the post-switch commands and health checks')
    .option('--to <release>', 'the release id (or a unique prefix) to go back to')
    .option('--dry-run', 'print the plan without running it')
    .action(async (f: { to?: string; dryRun?: boolean }) => {
      process.exitCode = await runRollback(ctx(), f);
    });
  program
    .command('releases')
    .description('list the releases on disk, oldest first, with their commit, status and restore point; the live one is marked')
    .action(async () => {
      const c = ctx();
      const d = deployConfig(await c.requireConfig());
      const live = await liveRelease(d.current);
      for (const r of await listReleases(d.releases_dir)) {
        const isLive = r.dir === live;
        c.out.event({ message_type: 'release', ...r.record, live: isLive });
        c.out.info(`${isLive ? '*' : ' '} ${r.record.id}  ${r.record.commit.slice(0, 12)}  ${r.record.status}${r.record.reason ? ` (${r.record.reason})` : ''}${r.record.point ? `  ${r.record.point}` : ''}${r.record.ran_migrations ? '  migrations' : ''}`);
      }
    });
}

export interface DeployFlags {
  rev: string;
  allowDirty?: boolean;
  autoRollback?: boolean;
  point: boolean;
  dryRun?: boolean;
  /** Check out from this git bundle instead of deploy.git (a restore point's verified copy, when the server is not trusted). */
  bundle?: string;
  /**
   * A recovery deploy (rollback attack): the live release is not trusted, so nothing ever switches back to it, and the
   * health is checked by the caller once the services run again (post-switch commands still run).
   */
  recovery?: boolean;
}

/** Post-switch commands, then the health check, for the release `current` now points to. */
async function afterSwitch(d: DeployConfig, release: string, record: ReleaseRecord): Promise<string> {
  const env = releaseEnv(release, record.commit, record.previous);
  const lines = await runScripts(d.post_switch, { cwd: release, env, timeoutMs: d.script_timeout });
  const health = d.health ? await checkHealth(d.health, { cwd: release, env }) : 'no deploy.health configured';
  return [...lines, health].join(', ');
}

/**
 * Puts back the configuration a release was deployed with (its snapshots, in place). Every source is backed up
 * first (tag safety) before anything changes; what each path held is kept beside it (`<path>.before-<time>`: a
 * safety backup honours the source's excludes, so it may not hold everything); if one source cannot be placed,
 * those already placed are put back. Returns what was done, one line.
 */
async function restoreReleaseConfig(c: Context, cfg: LoadedConfig, record: ReleaseRecord): Promise<string> {
  const parts = record.config_snapshots.map((part) => ({ part, source: cfg.sources.find((s) => s.name === part.source) })).filter((x) => x.source?.type === 'files');
  if (parts.length === 0) return 'no configuration backup recorded with the release: configuration left as it is';
  for (const { source } of parts) {
    const code = await runBackup(c, [], { source: source!.name, tag: ['safety'], exclude: [], excludeFile: [] });
    if (code !== 0) throw new UserError(`safety backup of ${source!.name} was incomplete (exit ${code}): configuration not replaced`);
  }
  const placed: Placed[] = [];
  try {
    for (const { part, source } of parts) {
      placed.push(...(await c.withRepository('rollback', 'shared', async (repo) => {
        await repo.loadIndex();
        return placeSnapshot(repo, await findSnapshot(repo, part.id), (p) => p, true);
      }, source!.name)));
    }
  } catch (err) {
    for (const p of placed.reverse()) {
      await rm(p.dest, { recursive: true, force: true }).catch(() => undefined);
      if (p.aside) await rename(p.aside, p.dest).catch(() => undefined);
    }
    throw err;
  }
  const kept = placed.filter((p) => p.aside).map((p) => p.aside);
  return `configuration restored from ${parts.map(({ part }) => `${part.source} snapshot ${shortId(part.id)}`).join(', ')} (safety backup taken first${kept.length > 0 ? `; the replaced files are kept in ${kept.join(', ')}` : ''})`;
}

/** The rollback target: `to`, else the newest healthy release older than the live one. */
async function rollbackTarget(d: DeployConfig, live: string | null, to: string | undefined): Promise<{ dir: string; record: ReleaseRecord }> {
  const all = await listReleases(d.releases_dir);
  if (to !== undefined) {
    const m = all.filter((r) => r.record.id === to || r.record.id.startsWith(to));
    if (m.length !== 1) throw new UsageError(`--to ${to}: ${m.length === 0 ? 'no such release' : `${m.length} releases match`} (\`safepoint releases\` lists them)`);
    if (m[0]!.dir === live) throw new UsageError(`--to ${to}: release ${m[0]!.record.id} is already live`);
    return m[0]!;
  }
  const idx = all.findIndex((r) => r.dir === live);
  const before = (idx < 0 ? all : all.slice(0, idx)).reverse();
  const target = before.find((r) => r.record.status === 'healthy');
  if (!target) throw new UserError(`no release before ${live ? (all[idx]?.record.id ?? live) : 'the live one'} passed its health checks: nothing to roll back to (\`safepoint releases\`)`);
  return target;
}

/** What to say when the release being left ran migrations: the data is ahead of the code. */
function migrationNote(cfg: LoadedConfig, left: ReleaseRecord, pointMessage: string | null): string | null {
  if (!left.ran_migrations) return null;
  const point = pointMessage && left.point ? parsePoint(left.point, pointMessage) : null;
  const offers = (point?.databases ?? []).map((db) => {
    if (db.kind === 'postgres' && db.position.restore_point) return `safepoint restore --source ${db.source} --target-name ${db.position.restore_point} --force`;
    if (db.position.snapshot) return `safepoint restore --source ${db.source} --snapshot ${shortId(db.position.snapshot)} --force`;
    return null;
  }).filter((x): x is string => x !== null);
  const dbs = cfg.sources.filter((s) => s.type !== 'files').map((s) => s.name);
  return `release ${left.id} ran database migrations: the data may be ahead of the code being restored. ${offers.length > 0 ? `The restore point ${left.point} recorded where the databases stood before them: ${offers.join('; ')}` : `No database position was recorded with it${dbs.length > 0 ? `: restore ${dbs.join(', ')} to a time before ${left.created} (safepoint restore --source NAME --target-time ...)` : ''}`}`;
}

async function pointMessage(cfg: LoadedConfig, tag: string | null): Promise<string | null> {
  if (!tag) return null;
  const dir = await workTree(cfg.dir).catch(() => null);
  return dir ? git(dir, ['tag', '-l', '--format=%(contents)', '--end-of-options', tag]).catch(() => null) : null;
}

/** Leaves `left` for `target`: `current` switched, `left` marked rolled back with `why`. */
async function switchTo(d: DeployConfig, left: { dir: string; record: ReleaseRecord }, target: { dir: string; record: ReleaseRecord }, why: string): Promise<string> {
  await switchCurrent(d.current, target.dir);
  if (left.record.status !== 'failed') {
    left.record.status = 'rolled-back';
    left.record.reason = why;
  }
  await writeRecord(left.dir, left.record);
  return `${d.current} → ${target.dir}; ${left.record.id} marked rolled back`;
}

/**
 * Switches back from `left` (live) to `target`: its configuration, `current`, post-switch commands, health (what
 * `rollback deploy` does step by step, in one go for the automatic rollback of a deploy).
 */
async function switchBack(c: Context, cfg: LoadedConfig, d: DeployConfig, left: { dir: string; record: ReleaseRecord }, target: { dir: string; record: ReleaseRecord }, why: string): Promise<string> {
  // the switch back happens even when the configuration cannot be restored: the failing release must not stay live
  const config = await restoreReleaseConfig(c, cfg, target.record).catch((err: unknown) => `configuration NOT restored (${errorMessage(err)}): restore it by hand`);
  await switchTo(d, left, target, why);
  const after = await afterSwitch(d, target.dir, target.record);
  const note = migrationNote(cfg, left.record, await pointMessage(cfg, left.record.point));
  if (note) c.out.warn(note);
  return `rolled back to ${target.record.id} (${target.record.commit.slice(0, 12)}): ${config}; ${after}${note ? `; ${note}` : ''}`;
}

export async function runDeploy(c: Context, f: DeployFlags): Promise<number> {
  const cfg = await c.requireConfig();
  const d = deployConfig(cfg);
  const releasesDir = resolve(d.releases_dir);
  const watch = d.auto_rollback ?? { window: 5 * 60_000, interval: 10_000, failure_limit: 3 };
  let previous: { dir: string; record: ReleaseRecord } | null = null;
  let release: { dir: string; record: ReleaseRecord } | null = null;
  const started = new Date();
  const fail = async (why: string): Promise<string> => {
    if (!release) return why;
    release.record.status = 'failed';
    release.record.reason = why;
    await writeRecord(release.dir, release.record);
    if (f.recovery) return `${why}; ${release.record.id} stays live (the release before it is not trusted)`;
    if (!previous) return `${why}; no earlier release to roll back to: ${release.record.id} stays live`;
    return `${why}; ${await switchBack(c, cfg, d, release, previous, why)}`;
  };
  const steps: PlanStep[] = [
    {
      name: 'check the live release',
      run: async () => {
        const live = await liveRelease(d.current);
        if (live === null) return `${d.current} does not exist yet: first release`;
        const record = await readRecord(live);
        previous = { dir: live, record: record ?? { id: live.split('/').at(-1) ?? live, commit: '', rev: '', created: '', status: 'healthy', point: null, config_snapshots: [], ran_migrations: false, previous: null } };
        return `${d.current} → ${live}${record ? ` (${record.commit.slice(0, 12)}, ${record.status})` : ' (not made by safepoint: taken as healthy)'}`;
      },
      onFailure: () => 'nothing was changed',
    },
    {
      name: `check out ${f.rev} from ${f.bundle ? "the restore point's git bundle" : d.git}`,
      run: async () => {
        // deploying from the project's own checkout: what is not committed would silently not be deployed
        const own = f.bundle ? null : await workTree(cfg.dir).catch(() => null);
        if (own !== null && resolve(d.git) === own && !f.allowDirty) {
          const changed = await changedPaths(own);
          if (changed.length > 0) throw new UserError(`${own} has ${changed.length} uncommitted changes (${changed.slice(0, 3).join(', ')}${changed.length > 3 ? ', ...' : ''}): they would not be deployed; commit them, or pass --allow-dirty to deploy ${f.rev} as committed`);
        }
        const rev = f.rev;
        const tmp = join(releasesDir, `.preparing-${process.pid}-${Date.now()}`);
        const commit = f.bundle ? await checkoutFromBundle(f.bundle, rev, tmp) : await cloneAt(d.git, rev, tmp);
        const id = releaseId(started, commit);
        const dir = join(releasesDir, id);
        await rename(tmp, dir);
        const prev = previous as { dir: string; record: ReleaseRecord } | null;
        release = { dir, record: { id, commit, rev: f.rev, created: started.toISOString(), status: 'preparing', point: null, config_snapshots: [], ran_migrations: false, previous: prev?.record.id ?? null } };
        await writeRecord(dir, release.record);
        return `release ${id}: commit ${commit.slice(0, 12)} in ${dir}`;
      },
      onFailure: () => 'the live release is unchanged',
    },
    {
      name: 'link the shared files',
      run: async () => {
        if (!d.shared_dir) return { skipped: 'no deploy.shared_dir' };
        const linked = await linkShared(d.shared_dir, release!.dir);
        return linked.length > 0 ? `linked ${linked.join(', ')} from ${d.shared_dir}` : { skipped: `${d.shared_dir} is empty` };
      },
      onFailure: () => `the live release is unchanged; ${release?.dir ?? 'the new release'} can be removed`,
    },
    {
      name: 'make a restore point',
      run: async () => {
        if (!f.point) return { skipped: '--no-point' };
        const r = release!;
        try {
          const { point, code } = await createPoint(c, { rev: r.record.commit, source: [], codeOnly: true, allowDirty: true, bundle: true, reason: `deploy ${r.record.id}`, label: `deploy-${r.record.commit.slice(0, 8)}` });
          r.record.point = point.tag;
          r.record.config_snapshots = point.snapshots.filter((s) => codeSources(cfg).some((x) => x.name === s.source));
          await writeRecord(r.dir, r.record);
          return `${point.tag}: ${point.snapshots.length} backups, ${point.databases.length} database positions${code !== 0 ? ` (incomplete: ${point.missing.join('; ')})` : ''}`;
        } catch (err) {
          // the deploy goes on without a point (e.g. the commit is not in the project's own checkout); say so
          c.out.warn(`no restore point for release ${r.record.id}: ${errorMessage(err)}`);
          return `no restore point: ${errorMessage(err)}`;
        }
      },
      onFailure: () => 'the live release is unchanged',
    },
    {
      name: 'run the deployment scripts',
      run: async () => {
        const r = release!;
        const prev = previous as { dir: string; record: ReleaseRecord } | null;
        if (d.scripts.length === 0) return { skipped: 'no deploy.scripts' };
        r.record.scripts = [];
        const onRun = (run: ScriptRun): void => {
          r.record.scripts?.push({ ...run });
          c.out.event({ message_type: 'script', release: r.record.id, ...run });
        };
        const lines = await runScripts(d.scripts, { cwd: r.dir, env: releaseEnv(r.dir, r.record.commit, prev?.dir ?? null), timeoutMs: d.script_timeout, onRun }).catch(async (err: unknown) => {
          r.record.status = 'failed';
          r.record.reason = `script failed: ${errorMessage(err)}`;
          await writeRecord(r.dir, r.record);
          throw err;
        });
        const migrations = await migrationsRun(d.scripts, r.dir, r.record.commit, prev?.record.commit || null);
        r.record.ran_migrations = migrations.length > 0;
        await writeRecord(r.dir, r.record);
        return `${lines.join(', ')}${migrations.length > 0 ? `; database migrations ran (${migrations.slice(0, 3).join(', ')}${migrations.length > 3 ? ', ...' : ''})` : ''}`;
      },
      onFailure: () => {
        const r = release as { dir: string; record: ReleaseRecord } | null;
        return `the live release is unchanged; the failed release stays in ${r?.dir ?? releasesDir} for inspection (a migration that ran in part is not undone: its restore point has the database position)`;
      },
    },
    {
      name: 'switch current to the new release',
      run: async () => {
        const r = release!;
        await switchCurrent(d.current, r.dir);
        r.record.switched_at = new Date().toISOString();
        await writeRecord(r.dir, r.record);
        return `${d.current} → ${r.dir}`;
      },
      onFailure: () => 'the live release is unchanged',
    },
    {
      name: 'run the post-switch commands and health checks',
      run: async () => {
        const r = release!;
        try {
          const out = f.recovery ? (await runScripts(d.post_switch, { cwd: r.dir, env: releaseEnv(r.dir, r.record.commit, r.record.previous), timeoutMs: d.script_timeout })).join(', ') || 'no post-switch commands; health checked after the services start' : await afterSwitch(d, r.dir, r.record);
          r.record.status = 'healthy';
          await writeRecord(r.dir, r.record);
          return out;
        } catch (err) {
          throw new SafepointError(await fail(`health check failed: ${errorMessage(err)}`));
        }
      },
    },
    {
      name: `watch the health checks for ${watch.window / 1000} s`,
      run: async () => {
        if (!f.autoRollback) return { skipped: 'no --auto-rollback' };
        if (!d.health) return { skipped: 'no deploy.health to watch' };
        const r = release!;
        const result = await watchHealth(() => checkHealth(d.health!, { cwd: r.dir, env: releaseEnv(r.dir, r.record.commit, r.record.previous) }), {
          windowMs: watch.window,
          intervalMs: watch.interval,
          failureLimit: watch.failure_limit,
          onCheck: (ok, n, error) => {
            c.out.event({ message_type: 'health', release: r.record.id, check: n, ok, error });
            if (!ok) c.out.warn(`health check ${n} of release ${r.record.id} failed: ${error}`);
          },
        });
        if (!result.ok) throw new SafepointError(await fail(`${result.failures} of ${result.checks} health checks failed within the window (limit ${watch.failure_limit}); last: ${result.lastError}`));
        return `${result.checks} checks, ${result.failures} failed (limit ${watch.failure_limit})`;
      },
    },
    {
      name: 'remove old releases',
      run: async () => {
        const removed = await pruneReleases(releasesDir, d.keep_releases, release!.dir);
        return removed.length > 0 ? `removed ${removed.join(', ')} (keep_releases ${d.keep_releases})` : { skipped: `${d.keep_releases} releases kept` };
      },
    },
  ];
  c.out.info(`${f.dryRun ? 'plan to deploy' : 'deploying'} ${f.rev} from ${d.git} into ${releasesDir}`);
  const { ok, reports, total } = await runReportedPlan(c, steps, f.dryRun ?? false, { operation: 'deploy' });
  const rel = release as { dir: string; record: ReleaseRecord } | null;
  c.out.event({ message_type: 'summary', ok, release: rel?.record.id ?? null, status: rel?.record.status ?? null, live: await liveRelease(d.current).catch(() => null), total_duration: total, dry_run: f.dryRun ?? false });
  if (!ok) {
    const failed = reports.find((r) => r.status === 'error');
    throw new SafepointError(`deploy stopped at step ${failed?.step ?? '?'} (${failed?.name ?? ''}); live: ${(await liveRelease(d.current).catch(() => null)) ?? 'none'}`);
  }
  c.out.info(f.dryRun ? 'dry run: nothing was changed' : `release ${rel?.record.id ?? '?'} is live and healthy (${total.toFixed(2)} s)`);
  return 0;
}

async function runRollback(c: Context, f: { to?: string; dryRun?: boolean }): Promise<number> {
  const cfg = await c.requireConfig();
  const d = deployConfig(cfg);
  const live = await liveRelease(d.current);
  if (live === null) throw new UserError(`${d.current} does not exist: nothing is deployed, nothing to roll back`);
  const liveRecord = await readRecord(live);
  if (!liveRecord) throw new UserError(`${live} (the live release) was not deployed by safepoint: roll back by hand, or deploy with safepoint first`);
  const target = await rollbackTarget(d, live, f.to);
  const note = migrationNote(cfg, liveRecord, await pointMessage(cfg, liveRecord.point));
  if (note) c.out.warn(note);
  const left = { dir: live, record: liveRecord };
  const steps: PlanStep[] = [
    {
      name: `restore the configuration of ${target.record.id}`,
      run: async () => restoreReleaseConfig(c, cfg, target.record),
      onFailure: () => `${liveRecord.id} is still live; its configuration is unchanged or back from the safety backup`,
    },
    {
      name: `switch current from ${liveRecord.id} to ${target.record.id}`,
      run: async () => switchTo(d, left, target, `rolled back by hand to ${target.record.id}`),
      onFailure: () => `${liveRecord.id} is still live, with the configuration of ${target.record.id}: run the rollback again, or restore the safety backup`,
    },
    {
      name: 'run the post-switch commands and health checks',
      run: async () => afterSwitch(d, target.dir, target.record),
      onFailure: () => `${target.record.id} is live and fails its health check too: \`safepoint releases\` shows the others (rollback deploy --to ID)`,
    },
  ];
  c.out.info(`${f.dryRun ? 'plan to roll back' : 'rolling back'} ${liveRecord.id} (${liveRecord.commit.slice(0, 12)}) to ${target.record.id} (${target.record.commit.slice(0, 12)})`);
  const { ok, total } = await runReportedPlan(c, steps, f.dryRun ?? false, { operation: 'rollback deploy' });
  c.out.event({ message_type: 'summary', ok, from: liveRecord.id, to: target.record.id, migrations: liveRecord.ran_migrations, total_duration: total, dry_run: f.dryRun ?? false });
  if (!ok) throw new SafepointError(`rollback to ${target.record.id} failed: see the report above`);
  c.out.info(f.dryRun ? 'dry run: nothing was changed' : `release ${target.record.id} is live again (${total.toFixed(2)} s)`);
  return 0;
}
