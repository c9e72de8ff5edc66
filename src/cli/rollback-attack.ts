/**
 * `safepoint rollback attack --compromised-at TIME`: after a security attack, the whole system back to the last clean
 * state before it (docs/rollback.md). First, without changing anything, the last clean point of every source: the
 * newest complete backup finished before TIME that the anomaly scan does not flag and that reads back whole. Then,
 * confirmed: quarantine the current (compromised) state into snapshots tagged `quarantine` for forensics, stop the
 * services, put every files source back exactly as it was (what the attacker added is removed from the live tree)
 * and every database back to the same point through its own tools, verify, restart, and report.
 */
import type { Command } from 'commander';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { bundleRepository, type RestorePoint } from '../git/restore-point.js';
import { writeSnapshotStream } from './code-restore.js';
import { runDeploy } from './deploy.js';
import { findService } from '../config/lookup.js';
import type { FilesSource, SourceConfig } from '../config/schema-sources.js';
import type { RepositoryConfig } from '../config/schema.js';
import type { LoadedConfig } from '../config/load.js';
import type { DbRestoreTarget } from '../db/driver.js';
import { driverFor, isDatabaseSource, type DatabaseSource } from '../db/drivers.js';
import { chooseBase } from '../db/postgres/recovery.js';
import { lastCleanSnapshot, type Rejected } from '../attack/clean-point.js';
import { shortId } from '../repo/ids.js';
import { loadSnapshots, isContinuous, type SnapshotWithId } from '../repo/snapshot.js';
import type { Repository } from '../repo/repository.js';
import { planInPlace, restoreFilesInPlace, type Scope } from '../restore/files-in-place.js';
import type { PlanStep } from '../restore/plan.js';
import { startServices, stopServices } from '../restore/services.js';
import { scanSource } from '../scan/index.js';
import { restorePoints } from '../status/status.js';
import { verifySnapshotData } from '../verify/snapshot-data.js';
import { SafepointError, UsageError, errorMessage } from '../util/errors.js';
import { backupFilesSource, filesSourceSpec } from './backup.js';
import { makeExcluder } from '../snapshot/exclude.js';
import { orExclude } from '../audit/from-audit.js';
import { checkHealth } from '../restore/services.js';
import type { Context } from './context.js';
import { recordOperation } from './journal-record.js';
import { collect } from './options.js';
import { archiveGetCommand } from './pg.js';
import { runReportedPlan } from './plan-output.js';
import { confirm, replaysToTime } from './rollback.js';
import { parseTime } from '../util/time.js';

export interface AttackFlags { compromisedAt?: string; dryRun?: boolean; force?: boolean; accept: string[]; source: string[] }

/** What one source goes back to. */
interface SourcePlan {
  readonly source: SourceConfig;
  readonly immutability: string;
  /** The clean snapshot (for PostgreSQL physical: the base backup replayed up to `recoverTo`). */
  readonly snapshot: SnapshotWithId;
  readonly rejected: Rejected[];
  /** Databases that replay a log: the time they recover to. */
  readonly recoverTo: Date | null;
}

export function registerRollbackAttack(program: Command, ctx: () => Context): void {
  const rollback = program.commands.find((c) => c.name() === 'rollback');
  if (!rollback) throw new Error('the rollback command is registered by deploy.ts first');
  rollback
    .command('attack')
    .description('security attack: quarantine the current state (snapshots tagged quarantine), find the last clean point before --compromised-at (complete, not flagged by the anomaly scan, reads back whole), put every source back to it — files exactly (what the attacker added is removed), databases through their own tools — verify, restart the services; the plan is shown first')
    .requiredOption('--compromised-at <time>', 'when the attack started, as far as known (ISO 8601; UTC unless a zone is given); snapshots before it that the scan flags are passed over too')
    .option('--source <name>', 'only these sources (repeatable; default: every source)', collect, [])
    .option('--accept <snapshot>', 'a snapshot the scan flags that you know is clean (a false positive; repeatable)', collect, [])
    .option('--dry-run', 'find the clean point and show the plan, change nothing')
    .option('--force', 'do not ask for confirmation (scripts); without it, a terminal asks and anything else refuses')
    .action(async (f: AttackFlags) => {
      process.exitCode = await runRollbackAttack(ctx(), f);
    });
}


export async function runRollbackAttack(c: Context, f: AttackFlags): Promise<number> {
  const cfg = await c.requireConfig();
  const compromisedAt = parseTime(f.compromisedAt!, '--compromised-at');
  if (compromisedAt.getTime() > Date.now()) throw new UsageError(`--compromised-at ${f.compromisedAt} is in the future`);
  const sources = f.source.length > 0 ? f.source.map((n) => { const s = cfg.sources.find((x) => x.name === n); if (!s) throw new UsageError(`no source named ${n} in safepoint.yaml`); return s; }) : cfg.sources;
  if (sources.length === 0) throw new UsageError('no sources in safepoint.yaml: nothing to roll back');
  const started = new Date().toISOString();

  const repositoryDirs = localRepositoryDirs(cfg);
  for (const source of sources) {
    for (const path of source.type === 'files' ? (await filesSourceSpec(c, source)).paths.map((x) => resolve(x)) : []) {
      const inside = repositoryDirs.find((d) => d === path || d.startsWith(`${path}/`));
      if (inside) throw new UsageError(`a repository target (${inside}) lies inside ${path}, which source ${source.name} puts back: move the repository out of the backed-up folders first; nothing was changed`);
    }
  }
  c.out.info(`looking for the last clean point before ${compromisedAt.toISOString()}`);
  const choices = await findCleanPoints(c, cfg, sources, compromisedAt, f.accept);
  // one point for all: the earliest clean backup end; databases that replay a log meet the files there
  const point = new Date(Math.min(...choices.map((p) => Date.parse(p.snapshot.summary.backup_end))));
  const plans = await Promise.all(choices.map((p) => alignDatabase(c, p, point)));
  for (const p of plans) {
    c.out.event({ message_type: 'clean_point', source: p.source.name, snapshot_id: p.snapshot.id, time: p.snapshot.time, recover_to: p.recoverTo?.toISOString() ?? null, immutability: p.immutability, rejected: p.rejected });
    c.out.info(`${p.source.name}: snapshot ${shortId(p.snapshot.id)} of ${p.snapshot.time}${p.recoverTo ? `, replayed to ${p.recoverTo.toISOString()}` : ''} (read back whole; immutability: ${p.immutability})`);
    if (p.immutability === 'none') c.out.warn(`${p.source.name}: repository ${p.source.repository} is neither append-only nor under Object Lock: an attacker with this host's credentials could have deleted backups (the clean one read back whole and matches its hashes)`);
    for (const r of p.rejected) c.out.info(`  passed over ${shortId(r.id)} (${r.time}): ${r.why}`);
  }

  const scopes = new Map<string, Scope>();
  for (const p of plans) if (p.source.type === 'files') scopes.set(p.source.name, await scopeOf(c, p.source));
  const removals: { source: string; path: string; removed: string[] }[] = [];
  for (const p of plans.filter((x) => x.source.type === 'files')) {
    const planned = await c.withRepository('rollback', 'none', (repo) => planInPlace(repo, p.snapshot, scopes.get(p.source.name)!), p.source.name);
    for (const r of planned) {
      removals.push({ source: p.source.name, ...r });
      c.out.event({ message_type: 'in_place_plan', source: p.source.name, path: r.path, remove: r.removed });
      if (r.removed.length > 0) c.out.info(`${p.source.name}: ${r.removed.length} entries in ${r.path} are not in the clean state and will be moved out: ${r.removed.slice(0, 8).join(', ')}${r.removed.length > 8 ? ', …' : ''}`);
    }
  }
  const code = cfg.deploy ? await cleanCodePoint(c, compromisedAt, new Set(plans.flatMap((p) => p.rejected.map((r) => r.id)))) : null;
  if (code) c.out.info(`code: restore point ${code.tag} (${code.commit.slice(0, 12)}), deployed from its git bundle`);
  const services = [...new Set(sources.flatMap((s) => s.services))].map((n) => findService(cfg, n));
  const quarantined: { source: string; id: string }[] = [];
  const report: Record<string, unknown>[] = [];
  const steps: PlanStep[] = [
    {
      name: 'quarantine the current state (snapshots tagged quarantine, for forensics)',
      run: async () => {
        for (const s of sources) {
          const id = await quarantine(c, s, repositoryDirs);
          if (id) quarantined.push({ source: s.name, id });
        }
        return quarantined.map((q) => `${q.source}: ${shortId(q.id)}`).join(', ') || 'nothing live to keep';
      },
      onFailure: () => 'nothing was changed: the compromised state must be kept before anything is restored',
    },
    {
      name: 'stop the services',
      run: async () => (services.length === 0 ? { skipped: 'no services configured for these sources' } : stopServices(services)),
      onFailure: () => 'nothing was restored; fix the stop command and run the rollback again',
    },
    {
      name: 'put the files back to the clean point (what the attacker added is removed)',
      run: async () => {
        const files = plans.filter((p) => p.source.type === 'files');
        if (files.length === 0) return { skipped: 'no files sources' };
        const lines: string[] = [];
        for (const p of files) {
          const swaps = await c.withRepository('rollback', 'shared', (repo) => restoreFilesInPlace(repo, p.snapshot, scopes.get(p.source.name)!), p.source.name);
          for (const s of swaps) {
            report.push({ source: p.source.name, path: s.path, files: s.files, bytes: s.bytes, removed: s.removedCount, removed_examples: s.removed, kept_in: s.keptIn });
            lines.push(`${s.path}: ${s.files} files verified${s.removedCount > 0 ? `, ${s.removedCount} entries moved out (${s.removed.slice(0, 3).join(', ')}${s.removedCount > 3 ? ', …' : ''})` : ''}${s.keptIn ? `; what was replaced or moved out is kept in ${s.keptIn}` : ''}`);
          }
        }
        return lines.join('; ');
      },
      onFailure: () => `the current state is in the quarantine snapshots (${quarantined.map((q) => shortId(q.id)).join(', ')}); the services are stopped`,
    },
    {
      name: 'put the databases back to the same point and verify them',
      run: async () => {
        const dbs = plans.filter((p) => isDatabaseSource(p.source));
        if (dbs.length === 0) return { skipped: 'no database sources' };
        const lines: string[] = [];
        for (const p of dbs) lines.push(await restoreDatabase(c, p));
        return lines.join('; ');
      },
      onFailure: () => `the current state is in the quarantine snapshots (${quarantined.map((q) => shortId(q.id)).join(', ')}); the services are stopped`,
    },
    {
      name: "deploy the clean point's revision from its git bundle (not the possibly compromised git server)",
      run: async () => {
        if (!cfg.deploy) return { skipped: 'no deploy in safepoint.yaml: the code is in the files sources' };
        if (!code?.bundle) return { skipped: `no clean restore point with a git bundle made before ${compromisedAt.toISOString()}` };
        const tmp = await mkdtemp(join(tmpdir(), 'safepoint-bundle-'));
        try {
          const file = join(tmp, 'repository.bundle');
          await writeSnapshotStream(c, bundleRepository(code), code.bundle.id, 'repository.bundle', file);
          await runDeploy(c, { rev: code.commit, bundle: file, point: false, allowDirty: true, recovery: true });
          return `${code.commit.slice(0, 12)} (${code.tag}) is live, checked out from the git bundle in snapshot ${shortId(code.bundle.id)}`;
        } finally {
          await rm(tmp, { recursive: true, force: true });
        }
      },
      onFailure: () => 'files and databases are back to the clean point; the code is not: run `safepoint restore code --point P --from-bundle --into DIR` and deploy it by hand',
    },
    {
      name: 'start the services and check their health',
      run: async () => (services.length === 0 ? { skipped: 'no services to start' } : startServices(services)),
      onFailure: () => 'everything is restored and verified; start the services by hand',
    },
    {
      name: "check the application's health (deploy.health)",
      run: async () => (cfg.deploy?.health ? checkHealth(cfg.deploy.health, {}) : { skipped: 'no deploy.health in safepoint.yaml' }),
      onFailure: () => 'everything is back to the clean point and the services run, but the application is not healthy: look at its logs',
    },
  ];
  c.out.info(`${f.dryRun ? 'plan' : 'rolling back'}: ${plans.length} sources to the clean point of ${point.toISOString()}`);
  if (!f.dryRun) await confirm(`quarantine the current state and put ${plans.map((p) => p.source.name).join(', ')} back to ${point.toISOString()}?`, f.force);
  const { ok, reports, total } = await runReportedPlan(c, steps, f.dryRun ?? false, { operation: 'rollback attack' });
  c.out.event({ message_type: 'summary', ok, dry_run: f.dryRun ?? false, compromised_at: compromisedAt.toISOString(), clean_point: point.toISOString(), quarantined, restored: report, total_duration: total });
  if (!f.dryRun) {
    for (const p of plans) {
      await recordOperation(c, {
        operation: 'rollback-attack',
        source: p.source.name,
        started,
        result: ok ? 'ok' : 'failed',
        ...(ok ? {} : { error: reports.find((r) => r.status === 'error')?.detail ?? 'see the report' }),
        inputs: { compromised_at: compromisedAt.toISOString(), snapshot_id: p.snapshot.id, recover_to: p.recoverTo?.toISOString() ?? null, quarantine: quarantined.find((q) => q.source === p.source.name)?.id ?? null },
        figures: { seconds: total, passed_over: p.rejected.length },
      }, { source: p.source.name });
    }
  }
  if (!ok) {
    const failed = reports.find((r) => r.status === 'error');
    throw new SafepointError(`rollback attack stopped at step ${failed?.step ?? '?'} (${failed?.name ?? ''}): see the report above`);
  }
  c.out.info(f.dryRun ? 'dry run: nothing was changed' : `restored to the clean point of ${point.toISOString()} in ${total.toFixed(2)} s; the compromised state is kept in ${quarantined.map((q) => `${q.source} ${shortId(q.id)}`).join(', ') || 'no snapshot (nothing was live)'}`);
  return 0;
}

/**
 * The newest restore point made before the compromise, with its git bundle still in the repository, none of whose
 * snapshots was passed over as unclean; null when there is none.
 */
async function cleanCodePoint(c: Context, compromisedAt: Date, unclean: ReadonlySet<string>): Promise<RestorePoint | null> {
  const { pointsIfAny } = await import('./point.js');
  return (await pointsIfAny(c)).filter((p) => p.point.bundle && !p.absent.some((a) => a.includes(p.point.bundle!.id.slice(0, 8))) && Date.parse(p.point.created) <= compromisedAt.getTime() && !p.point.snapshots.some((s) => unclean.has(s.id))).at(-1)?.point ?? null;
}

/** Every source's last clean snapshot before the compromise; refuses when one has none. */
async function findCleanPoints(c: Context, cfg: LoadedConfig, sources: readonly SourceConfig[], compromisedAt: Date, accept: readonly string[]): Promise<Choice[]> {
  const out: Choice[] = [];
  const acceptedAnywhere = new Set<string>();
  const unresolved = new Set<string>();
  for (const a of accept) if (a.length < 4) throw new UsageError(`--accept ${JSON.stringify(a)}: give at least 4 characters of a snapshot id`);
  for (const source of sources) {
    const choice = await c.withRepository('rollback', 'shared', async (repo) => {
      const every = await loadSnapshots(repo);
      const allIds = every.map((s) => s.id);
      const all = every.filter((s) => s.source === source.name && !isContinuous(s));
      const accepted = new Set<string>();
      for (const a of accept) {
        const matches = a.length >= 4 ? allIds.filter((id) => id.startsWith(a)) : [];
        if (matches.length === 1) accepted.add(matches[0]!);
        else if (matches.length > 1) throw new UsageError(`--accept ${a} matches ${matches.length} snapshots: give more characters`);
        else if (!acceptedAnywhere.has(a)) unresolved.add(a);
        if (matches.length === 1) acceptedAnywhere.add(a);
      }
      const points = restorePoints(all, source.name);
      const scan = await scanSource(repo, points);
      const choice = await lastCleanSnapshot(points, scan, compromisedAt, async (s) => (await verifySnapshotData(repo, s.tree)).problems[0] ?? null, accepted);
      return { ...choice, immutability: choice.snapshot ? await immutabilityOf(repo, cfg.repositories[source.repository], choice.snapshot.id) : 'none' };
    }, source.name);
    if (!choice.snapshot) {
      throw new SafepointError(`source ${source.name} has no clean backup before ${compromisedAt.toISOString()}${choice.rejected.length > 0 ? `: ${choice.rejected.map((r) => `${shortId(r.id)} ${r.why}`).join('; ')}` : ': it was never backed up before then'}; nothing was changed`);
    }
    out.push({ source, snapshot: choice.snapshot, rejected: choice.rejected, immutability: choice.immutability });
  }
  const unknown = [...unresolved].filter((a) => !acceptedAnywhere.has(a));
  if (unknown.length > 0) throw new UsageError(`--accept ${unknown.join(', ')}: no such snapshot in the sources' repositories`);
  return out;
}

interface Choice {
  readonly source: SourceConfig;
  readonly snapshot: SnapshotWithId;
  readonly rejected: Rejected[];
  /** What kept the clean snapshot from being removed or replaced: `object lock until …`, `append-only`, `none`. */
  readonly immutability: string;
}

/**
 * Whether the snapshot could have been tampered with since it was written: under Object Lock, the date its
 * retention runs to (read from the storage); on an append-only repository, that; else none (its content hash was
 * still checked when it was read).
 */
async function immutabilityOf(repo: Repository, r: RepositoryConfig | undefined, id: string): Promise<string> {
  if (r?.object_lock) {
    const info = await repo.storage.stat(`snapshots/${id}`).catch(() => null);
    return info?.retainUntil ? `object lock until ${info.retainUntil.toISOString()}` : 'object lock configured, but this snapshot holds no retention';
  }
  return r?.append_only || repo.appendOnly ? 'append-only' : 'none';
}

/** A database that replays a log goes to the common point (PostgreSQL: from the last base backup before it). */
async function alignDatabase(c: Context, p: Choice, point: Date): Promise<SourcePlan> {
  const source = p.source;
  if (!isDatabaseSource(source) || !replaysToTime(source)) return { ...p, recoverTo: null };
  const rejected = new Set(p.rejected.map((r) => r.id));
  return c.withRepository('rollback', 'none', async (repo) => {
    const clean = restorePoints(await loadSnapshots(repo, { source: source.name }), source.name).filter((s) => !rejected.has(s.id) && s.time <= p.snapshot.time);
    // the newest clean backup the log can be replayed from up to the point (PostgreSQL: consistent before it)
    const base = source.type === 'postgres'
      ? chooseBase(clean.filter((s) => s.meta?.kind === 'postgres' && s.meta.mode === 'physical'), { kind: 'time', time: point })
      : clean.filter((s) => Date.parse(s.summary.backup_end) <= point.getTime() && (source.type !== 'mariadb' || s.meta?.binlog !== undefined)).at(-1) ?? null;
    if (!base) {
      c.out.warn(`${source.name}: no clean backup to replay from up to ${point.toISOString()}: it goes back to its own clean backup of ${p.snapshot.summary.backup_end}, without replay`);
      return { ...p, recoverTo: null };
    }
    if (base.id !== p.snapshot.id) {
      const problem = (await verifySnapshotData(repo, base.tree)).problems[0];
      if (problem) throw new SafepointError(`${source.name}: the backup to replay from (${shortId(base.id)}) does not read back whole: ${problem}; nothing was changed`);
    }
    return { ...p, snapshot: base, recoverTo: point };
  }, source.name);
}

/** Backs the source's live state up, tagged quarantine; null when there is nothing live (a database that is gone). */
async function quarantine(c: Context, s: SourceConfig, repositoryDirs: readonly string[]): Promise<string | null> {
  return c.withRepository('quarantine', 'shared', async (repo: Repository) => {
    if (s.type === 'files') {
      // all of it, excludes and audit list ignored: the evidence is whatever the attacker touched
      const q = await backupFilesSource(c, repo, s, ['quarantine'], { everything: true, skip: repositoryDirs });
      if (!q.snapshot.complete) throw new SafepointError(`the quarantine snapshot of ${s.name} is incomplete (${q.snapshot.warnings.length} entries could not be read, first: ${q.snapshot.warnings[0] ?? '?'}): nothing was changed; fix the permissions and run the rollback again`);
      return q.snapshotId;
    }
    const driver = await driverFor(s);
    if (!(await driver.exists(s, {}))) return null;
    return (await driver.backup(repo, s, { tags: ['quarantine'] })).snapshotId;
  }, s.name);
}

/** What a files source covers: its paths minus its excludes and what its audit list leaves out. */
async function scopeOf(c: Context, s: FilesSource): Promise<Scope> {
  const spec = await filesSourceSpec(c, s);
  const excluded = orExclude(makeExcluder(spec.excludes), spec.auditExclude);
  return (abs) => !excluded(abs);
}

/** The local folders of every repository target (an S3 or SFTP target cannot lie inside a backed-up folder). */
function localRepositoryDirs(cfg: LoadedConfig): string[] {
  return Object.values(cfg.repositories).flatMap((r) => r.targets.map((t) => t.url)).filter((u) => !/^[a-z0-9+]+:/i.test(u) || u.startsWith('file:')).map((u) => resolve(u.replace(/^file:(\/\/)?/, '')));
}

/** Restores one database in place (the services are stopped; the quarantine snapshot holds what it replaces) and verifies it. */
async function restoreDatabase(c: Context, p: SourcePlan): Promise<string> {
  const source = p.source as DatabaseSource;
  const driver = await driverFor(source);
  const target: DbRestoreTarget = {
    ...(p.recoverTo ? { recovery: { kind: 'time', time: p.recoverTo } } : {}),
    ...(source.type === 'postgres' && source.wal_archiving ? { restoreCommand: archiveGetCommand(c, source) } : {}),
  };
  return c.withRepository('rollback', 'shared', async (repo) => {
    const done = await driver.restore(repo, p.snapshot, source, target, {});
    const checks = await driver.verify(source, p.snapshot, target);
    const bad = checks.filter((x) => !x.ok);
    if (bad.length > 0) throw new SafepointError(`${source.name}: ${bad.length} of ${checks.length} checks failed: ${bad.map((x) => `${x.name}: ${x.detail}`).join('; ')}`);
    return `${source.name}: ${done.target} from ${shortId(p.snapshot.id)}${p.recoverTo ? ` replayed to ${p.recoverTo.toISOString()}` : ''}, ${checks.length} checks ok`;
  }, source.name).catch((err: unknown) => {
    throw new SafepointError(`${source.name}: ${errorMessage(err)}`, { cause: err });
  });
}
