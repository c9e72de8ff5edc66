/**
 * `safepoint drill`: restore tests in a sandbox (mission: "restore procedures tested regularly in an isolated
 * environment"). Each drilled snapshot is restored and verified by src/drill/drill.ts, timed against the source's
 * RTO, recorded in its repository's journal (where `status` and `forget` read it), and its sandbox torn down — also
 * when the drill fails or is interrupted.
 */
import type { Command } from 'commander';
import { randomInt } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findSource } from '../config/lookup.js';
import type { LoadedConfig } from '../config/load.js';
import type { SourceConfig } from '../config/schema-sources.js';
import { drillSource } from '../drill/drill.js';
import { appendJournal, readJournal } from '../journal/journal.js';
import { lastDrillTimes, remainingSeconds } from '../drill/estimate.js';
import { shortId } from '../repo/ids.js';
import { loadSnapshots, type SnapshotWithId } from '../repo/snapshot.js';
import { bundleRepository, type RestorePoint } from '../git/restore-point.js';
import type { RecoveryTarget } from '../db/postgres/recovery.js';
import { restorePoints } from '../status/status.js';
import { SafepointError, UsageError, errorMessage } from '../util/errors.js';
import { formatAge } from '../util/format.js';
import type { Context } from './context.js';
import { collect } from './options.js';
import { archiveGetCommand } from './pg.js';
import { recordOperation } from './journal-record.js';
import { eta, progress } from './progress.js';

interface DrillFlags {
  source: string[];
  all?: boolean;
  point?: string;
  sampleOlder?: boolean;
  gitDir?: string;
}

export interface DrillResult {
  readonly source: string;
  readonly snapshot_id: string | null;
  readonly snapshot_time: string | null;
  readonly sampled_older: boolean;
  readonly ok: boolean;
  readonly rto_seconds: number;
  readonly rto_objective_seconds: number | null;
  readonly where: string | null;
  readonly checks: { name: string; ok: boolean; detail: string }[];
  readonly error: string | null;
}

export function registerDrill(program: Command, ctx: () => Context): void {
  program
    .command('drill')
    .description('restore test in a sandbox: restore the latest (or a restore point\'s) backup of each source into a temporary folder / throwaway database server, verify it (hashes, integrity, row counts, checks), time it against the RTO, record it in the journal, tear the sandbox down; production is never touched')
    .option('--source <name>', 'drill this source (repeatable); default: drills.sources from safepoint.yaml, else all', collect, [])
    .option('--all', 'drill every source')
    .option('--point <point>', 'drill the snapshots of this restore point (tag, time part, prefix or "latest") instead of the latest backups')
    .option('--sample-older', 'also drill a random older backup of each source, so old backups get tested too (drills.sample_older)')
    .option('--git-dir <dir>', "with --point: the project's git work tree holding the restore points (default: the config file's folder)")
    .action(async (f: DrillFlags) => {
      process.exitCode = await runDrill(ctx(), f);
    });
}

function drillSources(cfg: LoadedConfig, f: DrillFlags): SourceConfig[] {
  if (f.all && f.source.length > 0) throw new UsageError('give --source NAME or --all, not both');
  if (f.source.length > 0) return f.source.map((n) => findSource(cfg, n));
  const wanted = f.all ? 'all' : (cfg.drills?.sources ?? 'all');
  const list = wanted === 'all' ? cfg.sources : wanted.map((n) => findSource(cfg, n));
  if (list.length === 0) throw new UsageError('no sources to drill: add sources to safepoint.yaml');
  return list;
}

/** The snapshot of a source a point recorded, else its last restore point made at or before the point. */
function pointSnapshot(points: readonly SnapshotWithId[], point: RestorePoint, source: string): SnapshotWithId | undefined {
  const own = point.snapshots.find((s) => s.source === source);
  return (own ? points.find((s) => s.id === own.id) : undefined) ?? points.filter((s) => Date.parse(s.time) <= Date.parse(point.created)).at(-1);
}

/** PostgreSQL physical: the named restore point of the point, else every archived WAL file (proves the archive too). */
function recoveryFor(source: SourceConfig, point: RestorePoint | null, older: boolean): RecoveryTarget | undefined {
  if (source.type !== 'postgres' || source.mode !== 'physical') return undefined;
  const name = point?.databases.find((d) => d.source === source.name)?.position.restore_point;
  if (!older && name && source.wal_archiving) return { kind: 'name', name };
  return older || !source.wal_archiving ? { kind: 'immediate' } : { kind: 'latest' };
}

async function runDrill(c: Context, f: DrillFlags): Promise<number> {
  const cfg = await c.requireConfig();
  const sources = drillSources(cfg, f);
  const sampleOlder = f.sampleOlder ?? cfg.drills?.sample_older ?? false;
  let point: RestorePoint | null = null;
  if (f.point !== undefined) {
    const { loadPoints } = await import('./point.js');
    const { findPoint } = await import('../git/restore-point.js');
    const { points, prefix } = await loadPoints(c, f.gitDir);
    point = findPoint(points.map((p) => ({ ...p.point, tag: p.point.tag })), f.point, prefix);
  }

  const root = await mkdtemp(join(tmpdir(), 'safepoint-drill-'));
  // traversable by a database's OS user (a restored PostgreSQL directory is run as postgres), not listable
  await chmod(root, 0o711);
  const teardowns: (() => Promise<void>)[] = [];
  const teardown = async (): Promise<void> => {
    for (const fn of teardowns.splice(0).reverse()) await fn().catch((err: unknown) => c.out.warn(`sandbox teardown: ${errorMessage(err)}`));
  };
  // Ctrl-C / SIGTERM: abort what can be (a sandbox server starting, the user's checks), let the drill unwind and tear
  // its sandbox down, then exit; after 10 s, tear down and exit anyway
  const controller = new AbortController();
  let unwound!: () => void;
  const done = new Promise<void>((r) => (unwound = r));
  const onSignal = (signal: NodeJS.Signals): void => {
    const code = signal === 'SIGINT' ? 130 : 143;
    c.out.warn(`${signal}: tearing the sandbox down`);
    controller.abort(new SafepointError(`interrupted by ${signal}`));
    setTimeout(() => void teardown().then(() => rm(root, { recursive: true, force: true })).finally(() => process.exit(code)), 10_000).unref();
    void done.then(() => process.exit(code));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const results: DrillResult[] = [];
  const started = Date.now();
  c.out.info(`drilling ${sources.map((s) => s.name).join(', ')}${point ? ` at restore point ${point.tag}` : ''} in sandbox ${root}`);
  // progress: the source under way, and an ETA from the restore times earlier drills measured
  const queue = [...sources.map((s) => s.name), ...(point || cfg.deploy ? ['code'] : [])];
  // (on a terminal only: reading a long journal is not worth it for a script's events)
  const times = c.out.tty ? await drillTimes(c, sources) : new Map<string, number>();
  const p = progress(c.out, 'drill');
  let current = { index: 0, since: Date.now() };
  const tick = (): void => {
    const name = queue[current.index] ?? 'code';
    // the measured times when the journal has them, else the drill's own rate so far (sources done / time since it began)
    const measured = remainingSeconds(queue.slice(current.index), times, (Date.now() - current.since) / 1000);
    p({ phase: `drilling ${name} (${Math.min(current.index + 1, queue.length)}/${queue.length})`, done: current.index, total: queue.length, secondsRemaining: measured ?? eta((Date.now() - started) / 1000, current.index / queue.length) });
  };
  const ticker = setInterval(tick, 1000);
  ticker.unref();
  const begin = (name: string): void => {
    current = { index: Math.max(current.index, queue.indexOf(name)), since: Date.now() };
    tick();
  };
  try {
    for (const source of sources) {
      if (controller.signal.aborted) break;
      begin(source.name);
      // the snapshot files are read from the repository, not this host's list: a drill proves what any host would find
      await c.withRepository('drill', 'shared', async (repo) => {
        const points = restorePoints(await loadSnapshots(repo, { source: source.name }), source.name);
        const chosen = point ? pointSnapshot(points, point, source.name) : points.at(-1);
        const picks: { snapshot: SnapshotWithId | undefined; older: boolean }[] = [{ snapshot: chosen, older: false }];
        const older = points.filter((s) => chosen && s.time < chosen.time);
        if (sampleOlder && older.length > 0) picks.push({ snapshot: older[randomInt(older.length)], older: true });
        for (const pick of picks) {
          if (controller.signal.aborted) break;
          const r = await drillOne(c, source, pick.snapshot, pick.older, point, join(root, `${results.length + 1}-${source.name}`), teardowns, repo, controller.signal);
          await teardown();
          // an interrupted drill proves nothing either way: not reported as a failure, not journaled
          if (controller.signal.aborted) break;
          results.push(r);
          report(c, r);
          const w = await appendJournal(repo, {
            op_id: c.opId,
            operation: 'drill',
            source: source.name,
            started: new Date(Date.now() - r.rto_seconds * 1000).toISOString(),
            result: r.ok ? 'ok' : 'failed',
            ...(r.error ? { error: r.error } : {}),
            inputs: { snapshot_id: r.snapshot_id, point: point?.tag ?? null, sampled_older: r.sampled_older },
            figures: { rto_seconds: r.rto_seconds, rto_objective_seconds: r.rto_objective_seconds, checks: r.checks.length, checks_failed: r.checks.filter((x) => !x.ok).length },
          });
          if ('error' in w) c.out.warn(w.error);
        }
      }, source.name, { cache: false });
    }
    const codePoint = controller.signal.aborted ? null : point ?? (cfg.deploy ? await latestPoint(c, f.gitDir) : null);
    if (codePoint) {
      begin('code');
      const r = await drillCode(c, codePoint, join(root, 'code'));
      await teardown();
      results.push(r);
      report(c, r);
      if (codePoint.bundle) {
        await recordOperation(c, {
          operation: 'drill', source: 'code', started: new Date(Date.now() - r.rto_seconds * 1000).toISOString(), result: r.ok ? 'ok' : 'failed', ...(r.error ? { error: r.error } : {}),
          inputs: { point: codePoint.tag, commit: codePoint.commit, snapshot_id: codePoint.bundle.id }, figures: { rto_seconds: r.rto_seconds },
        }, { repository: bundleRepository(codePoint) });
      }
    }
  } finally {
    clearInterval(ticker);
    p.end();
    await teardown();
    await rm(root, { recursive: true, force: true });
    unwound();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const failed = results.filter((r) => !r.ok);
  const total = (Date.now() - started) / 1000;
  c.out.event({ message_type: 'summary', drills: results.length, failed: failed.length, total_seconds: total, sandbox_removed: true });
  if (failed.length > 0) throw new SafepointError(`${failed.length} of ${results.length} drills failed: ${failed.map((r) => `${r.source}: ${r.error}`).join('; ')}`);
  c.out.info(`${results.length} drills passed in ${total.toFixed(1)} s; the sandbox is removed`);
  return 0;
}

/** The last measured restore time of each source, from the journals of their repositories (none if unreadable). */
async function drillTimes(c: Context, sources: readonly SourceConfig[]): Promise<Map<string, number>> {
  const times = new Map<string, number>();
  for (const name of new Set(sources.map((s) => s.repository))) {
    try {
      const entries = await c.withRepository('drill', 'none', async (repo) => (await readJournal(repo)).entries, undefined, { repository: name });
      for (const [s, t] of lastDrillTimes(entries)) times.set(s, t);
    } catch {
      // no estimate from this repository: the drill itself will say what is wrong with it
    }
  }
  return times;
}

async function drillOne(c: Context, source: SourceConfig, snapshot: SnapshotWithId | undefined, older: boolean, point: RestorePoint | null, dir: string, teardowns: (() => Promise<void>)[], repo: Parameters<typeof drillSource>[0]['repo'], signal: AbortSignal): Promise<DrillResult> {
  const objective = source.rto === undefined ? null : source.rto / 1000;
  const base = { source: source.name, sampled_older: older, rto_objective_seconds: objective };
  if (!snapshot) {
    return { ...base, snapshot_id: null, snapshot_time: null, ok: false, rto_seconds: 0, where: null, checks: [], error: point ? `no backup at or before restore point ${point.tag}` : `no complete backup yet: run \`safepoint backup --source ${source.name}\`` };
  }
  c.out.info(`${source.name}: restoring snapshot ${shortId(snapshot.id)} of ${snapshot.time}${older ? ' (random older sample)' : ''}`);
  const t0 = Date.now();
  const recovery = recoveryFor(source, point, older);
  teardowns.push(() => rm(dir, { recursive: true, force: true }));
  try {
    const out = await drillSource({
      repo,
      source,
      snapshot,
      dir,
      ...(recovery ? { recovery } : {}),
      ...(source.type === 'postgres' && source.mode === 'physical' && source.wal_archiving ? { restoreCommand: archiveGetCommand(c, source) } : {}),
      onTeardown: (fn) => teardowns.push(fn),
      signal,
    });
    const seconds = (Date.now() - t0) / 1000;
    const bad = out.checks.filter((x) => !x.ok);
    const slow = objective !== null && seconds > objective;
    const error = bad.length > 0 ? `${bad.length} of ${out.checks.length} checks failed: ${bad.map((x) => `${x.name}: ${x.detail}`).join('; ')}` : slow ? `restore took ${formatAge(seconds)}, over the RTO of ${formatAge(objective)}` : null;
    return { ...base, snapshot_id: snapshot.id, snapshot_time: snapshot.time, ok: error === null, rto_seconds: round(seconds), where: out.where, checks: out.checks, error };
  } catch (err) {
    return { ...base, snapshot_id: snapshot.id, snapshot_time: snapshot.time, ok: false, rto_seconds: round((Date.now() - t0) / 1000), where: null, checks: [], error: errorMessage(err) };
  }
}

const round = (s: number): number => Math.round(s * 100) / 100;


/** The newest restore point of the project, or null when there is none (or no git work tree). */
async function latestPoint(c: Context, gitDir: string | undefined): Promise<RestorePoint | null> {
  const { pointsIfAny } = await import('./point.js');
  return (await pointsIfAny(c, gitDir)).at(-1)?.point ?? null;
}

/**
 * The application's code at the point's revision, from the git bundle kept in the repository (not the git server,
 * which may be what failed): checked out in the sandbox and compared with the point's commit.
 */
async function drillCode(c: Context, point: RestorePoint, dir: string): Promise<DrillResult> {
  const base = { source: 'code', sampled_older: false, rto_objective_seconds: null, snapshot_id: point.bundle?.id ?? null, snapshot_time: point.created };
  if (!point.bundle) return { ...base, ok: false, rto_seconds: 0, where: null, checks: [], error: `restore point ${point.tag} has no git bundle: the code cannot be restored without the git server (make points without --no-bundle)` };
  c.out.info(`code: checking out ${point.tag} (${point.commit.slice(0, 12)}) from its git bundle`);
  const t0 = Date.now();
  try {
    const { writeSnapshotStream } = await import('./code-restore.js');
    const { checkoutFromBundle } = await import('../deploy/checkout.js');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const file = join(dir, 'repository.bundle');
    await writeSnapshotStream(c, bundleRepository(point), point.bundle.id, 'repository.bundle', file);
    const commit = await checkoutFromBundle(file, point.commit, join(dir, 'work'));
    const checks = [
      { name: 'git bundle restored and verified', ok: true, detail: `snapshot ${shortId(point.bundle.id)}` },
      { name: 'checked out at the point\'s commit', ok: commit === point.commit, detail: commit.slice(0, 12) },
    ];
    const bad = checks.filter((x) => !x.ok);
    return { ...base, ok: bad.length === 0, rto_seconds: round((Date.now() - t0) / 1000), where: join(dir, 'work'), checks, error: bad.length ? `checked out ${commit}, expected ${point.commit}` : null };
  } catch (err) {
    return { ...base, ok: false, rto_seconds: round((Date.now() - t0) / 1000), where: null, checks: [], error: errorMessage(err) };
  }
}

function report(c: Context, r: DrillResult): void {
  c.out.event({ message_type: 'drill', ...r });
  for (const x of r.checks) c.out.info(`  ${x.ok ? 'ok  ' : 'FAIL'} ${x.name}: ${x.detail}`);
  const rto = `${r.rto_seconds.toFixed(2)} s${r.rto_objective_seconds === null ? '' : ` (RTO ${formatAge(r.rto_objective_seconds)})`}`;
  if (r.ok) c.out.info(`${r.source}: drill passed in ${rto}`);
  else process.stderr.write(`error: ${r.source}: drill failed after ${rto}: ${r.error}\n`);
}
