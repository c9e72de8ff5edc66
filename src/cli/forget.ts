import type { Command } from 'commander';
import { isContinuous, loadSnapshots, formatSnapshotTime, type SnapshotWithId } from '../repo/snapshot.js';
import { planDatabaseRetention, type DatabaseRetention } from '../snapshot/db-retention.js';
import { isDatabaseSource } from '../db/drivers.js';
import { prune, type PrunePlan } from '../repo/prune.js';
import { listLocks, isStale } from '../repo/lock.js';
import { shortId } from '../repo/ids.js';
import { applyRetention, isEmptyPolicy, parseKeepWithin, policyFromConfig, type RetentionPolicy } from '../snapshot/retention.js';
import { findSource } from '../config/lookup.js';
import { UsageError, errorMessage } from '../util/errors.js';
import { recordOperation } from './journal-record.js';
import { formatBytes } from '../util/format.js';
import type { Repository } from '../repo/repository.js';
import type { Context } from './context.js';
import { progress } from './progress.js';
import { extendRetention, lockedTargets } from '../repo/object-lock.js';
import { collect } from './options.js';
import { readJournal } from '../journal/journal.js';
import { protectedSnapshots } from '../snapshot/protected.js';

interface ForgetFlags {
  keepLast?: string; keepHourly?: string; keepDaily?: string; keepWeekly?: string; keepMonthly?: string; keepYearly?: string;
  keepWithin?: string; keepTag: string[]; source?: string; all?: boolean; host?: string; tag: string[]; dryRun?: boolean; prune?: boolean; maxUnused?: string; wal?: boolean;
}


export function registerForget(program: Command, ctx: () => Context): void {
  program
    .command('forget')
    .description('remove snapshots by id or by a retention policy (data is freed by prune)')
    .argument('[snapshots...]', 'snapshot ids to forget')
    .option('-l, --keep-last <n>', 'keep the n newest snapshots')
    .option('-H, --keep-hourly <n>', 'keep the newest snapshot of each of the last n hours that have one')
    .option('-d, --keep-daily <n>', 'keep one per day for the last n days with snapshots')
    .option('-w, --keep-weekly <n>', 'keep one per week for the last n weeks with snapshots')
    .option('-m, --keep-monthly <n>', 'keep one per month for the last n months with snapshots')
    .option('-y, --keep-yearly <n>', 'keep one per year for the last n years with snapshots')
    .option('--keep-within <duration>', 'keep snapshots newer than the newest minus this (e.g. 2y5m7d3h)')
    .option('--keep-tag <tags>', 'keep snapshots with these tags (repeatable; a,b means both)', collect, [])
    .option('--source <name>', "only this source's snapshots; without --keep-* options, use its retention from safepoint.yaml (database sources: full / diff counts too, and their WAL archive and replication entries follow the backups kept)")
    .option('--all', "every source of safepoint.yaml with its own retention (quarantined, legal-hold and each source's last drilled snapshot are always kept)")
    .option('--wal', 'database sources: also list each WAL archive and replication entry kept or removed')
    .option('--host <name>', 'only snapshots from this host')
    .option('--tag <tag>', 'only snapshots with this tag (repeatable)', collect, [])
    .option('-n, --dry-run', 'show what would be removed, remove nothing')
    .option('--prune', 'run prune afterwards to free the space')
    .option('--max-unused <n%>', 'with --prune: repack packs with more unused space than this (default 5%)')
    .action(async (ids: string[], f: ForgetFlags) => {
      process.exitCode = await runForget(ctx(), ids, f);
    });

  program
    .command('prune')
    .description('delete data no snapshot references; repack partly used packs (takes an exclusive lock)')
    .option('-n, --dry-run', 'show what would be removed')
    .option('--max-unused <n%>', 'repack packs with more unused space than this (default 5%)')
    .action(async (f: { dryRun?: boolean; maxUnused?: string }) => {
      const c = ctx();
      await c.withRepository('prune', f.dryRun ? 'shared' : 'exclusive', (repo) => {
        if (!f.dryRun) repo.requireAdmin('prune');
        return runPrune(c, repo, f);
      }, undefined, { allTargets: !f.dryRun });
    });

  program
    .command('unlock')
    .description('remove stale locks (left by a crashed process)')
    .option('--remove-all', 'remove every lock, even live ones')
    .action(async (f: { removeAll?: boolean }) => {
      const c = ctx();
      await c.withRepository('unlock', 'none', async (repo) => {
        let removed = 0;
        for (const { id, lock } of await listLocks(repo)) {
          if (f.removeAll || !lock || isStale(lock)) {
            await repo.removeJson('locks', id);
            removed++;
          }
        }
        c.out.event({ message_type: 'unlocked', removed });
        c.out.info(`removed ${removed} ${f.removeAll ? '' : 'stale '}locks`.replace('  ', ' '));
      });
    });
}

/** Moves the snapshots retention must never remove (quarantine, legal hold, last drilled) from `remove` to `keep`. */
function keepProtected<T extends { id: string }>(d: { readonly keep: readonly { item: T; reasons: readonly string[] }[]; readonly remove: readonly T[] }, held: ReadonlyMap<string, string>): { keep: { item: T; reasons: readonly string[] }[]; remove: T[] } {
  const saved = d.remove.filter((r) => held.has(r.id));
  return { keep: [...d.keep, ...saved.map((item) => ({ item, reasons: [held.get(item.id)!] }))], remove: d.remove.filter((r) => !held.has(r.id)) };
}

function toPolicy(f: ForgetFlags): RetentionPolicy {
  const num = (flag: string, v?: string): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < -1) throw new UsageError(`--${flag} ${v}: expected a whole number (-1 for unlimited)`);
    return n;
  };
  let within;
  try {
    within = f.keepWithin === undefined ? undefined : parseKeepWithin(f.keepWithin);
  } catch (err) {
    throw new UsageError(`--keep-within ${f.keepWithin}: ${(err as Error).message}`);
  }
  const p: RetentionPolicy = {
    last: num('keep-last', f.keepLast), hourly: num('keep-hourly', f.keepHourly), daily: num('keep-daily', f.keepDaily),
    weekly: num('keep-weekly', f.keepWeekly), monthly: num('keep-monthly', f.keepMonthly), yearly: num('keep-yearly', f.keepYearly),
    ...(within ? { within } : {}), tags: f.keepTag,
  };
  return Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)) as RetentionPolicy;
}

/**
 * Runs one step of `forget --all` and records it, ok or failed, in the journal of the repository it changed;
 * returns the step's figures (its last `summary`).
 */
async function journaled(c: Context, operation: string, where: { source?: string; repository?: string }, record: boolean, step: () => Promise<unknown>): Promise<Record<string, unknown>> {
  const started = new Date().toISOString();
  c.out.lastSummary = null;
  let error: string | undefined;
  const figures = (): Record<string, unknown> => Object.fromEntries(Object.entries(c.out.lastSummary ?? {}).filter(([k]) => k !== 'message_type'));
  try {
    await step();
    return figures();
  } catch (err) {
    error = errorMessage(err);
    // the storage may be what failed: the entry is tried once, not through every retry again
    c.retriesOverride = 0;
    throw err;
  } finally {
    if (record) await recordOperation(c, { operation, op_id: c.opId, source: where.source ?? null, started, result: error === undefined ? 'ok' : 'failed', ...(error !== undefined ? { error } : {}), inputs: { all: true }, figures: figures() }, where);
  }
}

async function runForget(c: Context, ids: string[], f: ForgetFlags): Promise<number> {
  if (f.all) {
    if (ids.length > 0 || f.source !== undefined || !isEmptyPolicy(toPolicy(f))) throw new UsageError('--all applies each source\'s retention from safepoint.yaml: give no snapshot ids, --source or --keep-* options with it');
    const cfg = await c.requireConfig();
    const touched = new Set<string>();
    let removed = 0;
    for (const s of cfg.sources) {
      if (!s.retention) {
        c.out.info(`source ${s.name}: no retention in safepoint.yaml, every snapshot kept`);
        continue;
      }
      // each source's forget is journaled in its own repository (the run as a whole is not: see cli/program.ts)
      const figures = await journaled(c, 'forget', { source: s.name }, !f.dryRun, () => runForget(c, [], { ...f, all: false, prune: false, source: s.name }));
      removed += typeof figures.snapshots_removed === 'number' ? figures.snapshots_removed : 0;
      touched.add(s.repository);
    }
    // one prune per repository at the end, not one per source
    if (f.prune && !f.dryRun) {
      for (const name of touched) {
        await journaled(c, 'prune', { repository: name }, true, () => c.withRepository('prune', 'exclusive', (repo) => {
          repo.requireAdmin('prune');
          return runPrune(c, repo, { maxUnused: f.maxUnused });
        }, undefined, { allTargets: true, repository: name }));
      }
    }
    // the run's figures (the daemon keeps the last summary of a job)
    c.out.event({ message_type: 'summary', source: null, sources: cfg.sources.filter((s) => s.retention).length, snapshots_removed: removed, dry_run: f.dryRun ?? false });
    return 0;
  }
  let policy = toPolicy(f);
  let dbRules: DatabaseRetention | null = null;
  if (f.source && ids.length === 0) {
    const src = findSource(await c.requireConfig(), f.source);
    const retention = (src as { retention?: Record<string, unknown> & DatabaseRetention }).retention;
    if (isEmptyPolicy(policy)) {
      if (!retention) throw new UsageError(`source ${f.source} has no retention in safepoint.yaml: give --keep-* options`);
      policy = policyFromConfig(Object.fromEntries(Object.entries(retention).filter(([k]) => k.startsWith('keep_'))));
      if (isDatabaseSource(src)) dbRules = { full: retention.full, diff: retention.diff };
    } else if (isDatabaseSource(src)) dbRules = {};
    if (dbRules && isEmptyPolicy(policy) && dbRules.full === undefined && dbRules.diff === undefined) throw new UsageError(`source ${f.source}: its retention keeps nothing: set full, diff or keep_* options`);
  }
  if (dbRules) return forgetDatabase(c, f, policy, dbRules);
  if (ids.length === 0 && isEmptyPolicy(policy)) throw new UsageError('no policy: give snapshot ids or at least one --keep-* option (forget refuses to remove everything)');
  if (ids.length > 0 && !isEmptyPolicy(policy)) throw new UsageError('give either snapshot ids or --keep-* options, not both');
  return c.withRepository('forget', f.dryRun ? 'shared' : 'exclusive', async (repo) => {
    if (!f.dryRun) repo.requireAdmin('forget');
    const doomed: SnapshotWithId[] = [];
    let kept = 0;
    if (ids.length > 0) {
      const all = await loadSnapshots(repo);
      for (const ref of ids) {
        const id = await repo.resolveId('snapshots', ref);
        doomed.push(all.find((s) => s.id === id)!);
      }
    } else {
      const filtered = await loadSnapshots(repo, { ...(f.source ? { source: f.source } : {}), ...(f.host ? { host: f.host } : {}), tags: f.tag });
      const held = protectedSnapshots(filtered, (await readJournal(repo)).entries);
      // restic groups by host and paths; we add the source so two sources never share a retention count
      const groups = new Map<string, SnapshotWithId[]>();
      for (const s of filtered) {
        const key = JSON.stringify([s.host, [...s.paths].sort(), s.source]);
        groups.set(key, [...(groups.get(key) ?? []), s]);
      }
      for (const [key, list] of groups) {
        const [host, paths, source] = JSON.parse(key) as [string, string[], string | null];
        const d = keepProtected(applyRetention(list.map((s) => ({ id: s.id, time: new Date(s.time), tags: s.tags, sn: s })), policy), held);
        c.out.info(`snapshots for host ${host}${source ? `, source ${source}` : ''}, paths ${paths.join(', ')}: keep ${d.keep.length}, remove ${d.remove.length}`);
        for (const k of d.keep) c.out.info(`  keep   ${shortId(k.item.id)}  ${formatSnapshotTime(k.item.sn)}  ${k.reasons.join(', ')}`);
        for (const r of d.remove) c.out.info(`  remove ${shortId(r.id)}  ${formatSnapshotTime(r.sn)}`);
        c.out.event({ message_type: 'forget_group', host, paths, source, keep: d.keep.map((k) => ({ id: k.item.id, reasons: k.reasons })), remove: d.remove.map((r) => r.id) });
        doomed.push(...list.filter((s) => d.remove.some((r) => r.id === s.id)));
        kept += d.keep.length;
      }
    }
    c.out.event({ message_type: 'summary', source: f.source ?? null, ...(ids.length === 0 ? { snapshots_kept: kept } : {}), snapshots_removed: doomed.length, dry_run: f.dryRun ?? false });
    if (!f.dryRun) {
      for (const s of doomed) await repo.removeJson('snapshots', s.id);
      c.out.info(`removed ${doomed.length} snapshots`);
      if (f.prune) await runPrune(c, repo, { maxUnused: f.maxUnused });
    } else c.out.info(`would remove ${doomed.length} snapshots (dry run)`);
    return 0;
  }, f.source, { allTargets: !f.dryRun });
}

/**
 * `forget --source DB`: the database retention (full / diff counts, keep_* policy, dependencies, WAL archive and
 * replication entries) of one database source; see snapshot/db-retention.ts.
 */
async function forgetDatabase(c: Context, f: ForgetFlags, policy: RetentionPolicy, rules: DatabaseRetention): Promise<number> {
  return c.withRepository('forget', f.dryRun ? 'shared' : 'exclusive', async (repo) => {
    if (!f.dryRun) repo.requireAdmin('forget');
    const list = await loadSnapshots(repo, { source: f.source! });
    const points = list.filter((s) => !isContinuous(s) || s.meta?.mode === 'replica-base');
    const also = new Map<string, string>();
    if (!isEmptyPolicy(policy)) {
      for (const k of applyRetention(points.map((s) => ({ id: s.id, time: new Date(s.time), tags: s.tags, sn: s })), policy).keep) also.set(k.item.id, k.reasons.join(', '));
    }
    for (const [id, why] of protectedSnapshots(list, (await readJournal(repo)).entries)) if (!also.has(id)) also.set(id, why);
    const plan = planDatabaseRetention(list, rules, also);
    const shown = (s: SnapshotWithId): boolean => f.wal === true || !isContinuous(s) || s.meta?.mode === 'replica-base';
    c.out.info(`source ${f.source}: keep ${plan.keep.size}, remove ${plan.remove.length} (backups, WAL archive and replication entries)`);
    for (const s of list) {
      if (!shown(s)) continue;
      const why = plan.keep.get(s.id);
      c.out.info(`  ${why !== undefined ? 'keep  ' : 'remove'} ${shortId(s.id)}  ${formatSnapshotTime(s)}  ${s.type}${isContinuous(s) ? ` ${String(s.meta?.mode)}` : ''}${why !== undefined ? `  ${why}` : ''}`);
    }
    c.out.event({ message_type: 'forget_group', source: f.source, keep: [...plan.keep].map(([id, reason]) => ({ id, reasons: [reason] })), remove: plan.remove.map((s) => s.id) });
    c.out.event({ message_type: 'summary', source: f.source ?? null, snapshots_kept: plan.keep.size, snapshots_removed: plan.remove.length, dry_run: f.dryRun ?? false });
    if (!f.dryRun) {
      for (const s of plan.remove) await repo.removeJson('snapshots', s.id);
      c.out.info(`removed ${plan.remove.length} snapshots`);
      if (f.prune) await runPrune(c, repo, { maxUnused: f.maxUnused });
    } else c.out.info(`would remove ${plan.remove.length} snapshots (dry run)`);
    return 0;
  }, f.source, { allTargets: !f.dryRun });
}

/**
 * Object Lock: extends the retention of what the repository still uses after a prune, not what it let go: the
 * live packs are those named by the index files no other supersedes, read afresh (the in-memory index still holds
 * the packs prune removed).
 */
async function extendLiveRetention(repo: Repository): Promise<{ checked: number; extended: number }> {
  const read = await repo.loadIndexFiles();
  const superseded = new Set(read.files.flatMap((f) => f.json.supersedes));
  const current = read.files.filter((f) => !superseded.has(f.id));
  const livePacks = new Set(current.flatMap((f) => f.json.packs.map((p) => p.id)));
  const liveIndex = new Set(current.map((f) => f.id));
  const base = (name: string): string => name.slice(name.lastIndexOf('/') + 1);
  return extendRetention(repo.storage, (name) => {
    if (name.startsWith('data/')) return livePacks.has(base(name));
    if (name.startsWith('index/')) return liveIndex.has(base(name));
    return true;
  });
}

async function runPrune(c: Context, repo: Repository, f: { dryRun?: boolean; maxUnused?: string }): Promise<void> {
  let maxUnused: number | undefined;
  if (f.maxUnused !== undefined) {
    const m = /^(\d+(?:\.\d+)?)%$/.exec(f.maxUnused);
    if (!m) throw new UsageError(`--max-unused ${f.maxUnused}: expected a percentage such as 5%`);
    maxUnused = Number(m[1]) / 100;
  }
  const p = progress(c.out, 'prune');
  const phases: Record<string, string> = { mark: 'marking what snapshots use', repack: 'repacking', delete: 'deleting packs' };
  const plan: PrunePlan = await prune(repo, { ...(maxUnused !== undefined ? { maxUnused } : {}), dryRun: f.dryRun ?? false, onProgress: (phase, done, total) => p({ phase: phases[phase] ?? phase, done, total }) });
  p.end();
  const locks = f.dryRun || lockedTargets(repo.storage).length === 0 ? undefined : await extendLiveRetention(repo);
  c.out.event({ message_type: 'prune', dry_run: f.dryRun ?? false, packs_total: plan.packsTotal, packs_removed: plan.remove.length, packs_repacked: plan.repack.length, packs_unreferenced: plan.strays.length, blobs_repacked: plan.blobsRepacked, bytes_freed: plan.bytesFreed, temporaries_removed: plan.temporaries, kept_locked: plan.locked, locked_until: plan.lockedUntil?.toISOString() ?? null, retention_extended: locks?.extended ?? 0 });
  c.out.info(`${f.dryRun ? 'would remove' : 'removed'} ${plan.remove.length} unused packs and ${plan.strays.length} unreferenced packs, ${f.dryRun ? 'would repack' : 'repacked'} ${plan.repack.length} packs (${plan.blobsRepacked} blobs); ${formatBytes(plan.bytesFreed)} freed of ${plan.packsTotal} packs`);
  if (plan.locked > 0) c.out.info(`kept ${plan.locked} objects under Object Lock retention (until ${plan.lockedUntil?.toISOString() ?? '?'}); a later prune removes them`);
  if (locks) c.out.info(`Object Lock: extended the retention of ${locks.extended} of ${locks.checked} older objects the repository still needs`);
}
