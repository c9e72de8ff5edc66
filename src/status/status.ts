/**
 * Where each source stands against its objectives (`safepoint status`): how much data a failure now would lose
 * (the age of the newest protection, backup or continuous archive, against the RPO), whether the last restore drill
 * proved the RTO, whether the repository was checked, and whether its backups are immutable. Pure: the caller reads
 * the snapshots and the journal.
 */
import type { SourceConfig } from '../config/schema-sources.js';
import type { RepositoryConfig } from '../config/schema.js';
import { isContinuous, type SnapshotWithId } from '../repo/snapshot.js';
import type { JournalEntryWithId } from '../journal/journal.js';
import { formatAge } from '../util/format.js';

export type Verdict = 'ok' | 'at risk' | 'violated';

export interface SourceStatus {
  readonly source: string;
  readonly type: SourceConfig['type'];
  readonly repository: string;
  readonly last_backup: { snapshot_id: string; time: string; type: string } | null;
  /** How old the newest protection is: what a failure now would lose (seconds); null when never backed up. */
  readonly exposure_seconds: number | null;
  /** What the exposure is measured from: the last backup, or the continuous archive that follows it. */
  readonly exposure_from: 'backup' | 'wal archive' | 'replication' | 'binlog archive' | null;
  readonly rpo_seconds: number | null;
  readonly last_check: { time: string; ok: boolean; read_data_share: number } | null;
  readonly last_drill: { time: string; ok: boolean; snapshot_id: string | null; rto_seconds: number | null; error: string | null } | null;
  readonly rto_seconds: number | null;
  readonly immutability: { state: 'object lock' | 'append-only' | 'none'; detail: string };
  readonly verdict: Verdict;
  readonly reasons: string[];
}

/** How far into the RPO the exposure may grow before the source is "at risk": the next backup is due. */
export const RPO_WARNING_SHARE = 0.75;
/** A drill older than this no longer proves the RTO (two weekly drills missed). */
export const DRILL_MAX_AGE_SECONDS = 14 * 86_400;
/** Nor a check older than this. */
export const CHECK_MAX_AGE_SECONDS = 14 * 86_400;

const CONTINUOUS_KIND: Record<string, SourceStatus['exposure_from']> = { wal: 'wal archive', replica: 'replication', binlog: 'binlog archive' };

export interface StatusInput {
  readonly source: SourceConfig;
  readonly repository: RepositoryConfig | null;
  /** The repository's snapshots (any source; filtered here). */
  readonly snapshots: readonly SnapshotWithId[];
  /** The repository's journal, oldest first. */
  readonly journal: readonly JournalEntryWithId[];
  /** The key in use can only add (append-only). */
  readonly appendOnlyKey: boolean;
  readonly now: Date;
}

/** Snapshots that are restore points of the source: complete, not continuous entries, not safety or quarantine copies. */
export function restorePoints(snapshots: readonly SnapshotWithId[], source: string): SnapshotWithId[] {
  return snapshots
    .filter((s) => s.source === source && s.complete && !isContinuous(s) && !s.tags.includes('safety') && !s.tags.includes('quarantine'))
    .sort((a, b) => a.time.localeCompare(b.time));
}

export function sourceStatus(i: StatusInput): SourceStatus {
  const name = i.source.name;
  const points = restorePoints(i.snapshots, name);
  const last = points.at(-1) ?? null;
  const seconds = (t: string): number => Math.max(0, (i.now.getTime() - Date.parse(t)) / 1000);
  // continuous entries count only after a restore point they can be replayed onto
  const continuous = last
    ? i.snapshots.filter((s) => s.source === name && isContinuous(s) && s.time > last.time).sort((a, b) => a.time.localeCompare(b.time)).at(-1)
    : undefined;
  const newest = continuous ?? last;
  const exposure = newest ? seconds(newest.summary?.backup_end ?? newest.time) : null;
  const exposureFrom: SourceStatus['exposure_from'] = continuous ? (CONTINUOUS_KIND[continuous.tags.find((t) => t in CONTINUOUS_KIND) ?? ''] ?? 'backup') : last ? 'backup' : null;

  const check = [...i.journal].reverse().find((e) => e.operation === 'check');
  const drill = [...i.journal].reverse().find((e) => e.operation === 'drill' && e.source === name);
  const rpo = i.source.rpo === undefined ? null : i.source.rpo / 1000;
  const rto = i.source.rto === undefined ? null : i.source.rto / 1000;
  const drillRto = typeof drill?.figures.rto_seconds === 'number' ? drill.figures.rto_seconds : null;

  const violated: string[] = [];
  const atRisk: string[] = [];
  if (!last) violated.push('never backed up');
  else if (rpo !== null && exposure !== null && exposure > rpo) violated.push(`last protection ${formatAge(exposure)} ago, over the RPO of ${formatAge(rpo)}`);
  else if (rpo !== null && exposure !== null && exposure > rpo * RPO_WARNING_SHARE) atRisk.push(`last protection ${formatAge(exposure)} ago, ${Math.round((exposure / rpo) * 100)}% of the RPO`);
  if (drill && drill.result === 'failed') violated.push(`last drill (${drill.time}) failed: ${drill.error ?? 'see the journal'}`);
  else if (drill && rto !== null && drillRto !== null && drillRto > rto) violated.push(`last drill restored in ${formatAge(drillRto)}, over the RTO of ${formatAge(rto)}`);
  else if (!drill && last) atRisk.push(`never drilled: the RTO is unproven (run \`safepoint drill --source ${name}\`)`);
  else if (drill && seconds(drill.time) > DRILL_MAX_AGE_SECONDS) atRisk.push(`last drill ${formatAge(seconds(drill.time))} ago`);
  if (check && check.result === 'failed') violated.push(`last check (${check.time}) found damage: ${check.error ?? 'see the journal'}`);
  else if (!check && last) atRisk.push('repository never checked (run `safepoint check`)');
  else if (check && seconds(check.time) > CHECK_MAX_AGE_SECONDS) atRisk.push(`last check ${formatAge(seconds(check.time))} ago`);

  const lock = i.repository?.object_lock;
  const immutability: SourceStatus['immutability'] = lock
    ? { state: 'object lock', detail: `S3 Object Lock, ${lock.mode} mode, ${lock.days} days` }
    : i.appendOnlyKey || i.repository?.append_only
      ? { state: 'append-only', detail: 'this client can add backups, not delete them' }
      : { state: 'none', detail: 'a compromised client can delete the backups (set append_only or object_lock)' };

  return {
    source: name,
    type: i.source.type,
    repository: i.source.repository,
    last_backup: last ? { snapshot_id: last.id, time: last.time, type: last.type } : null,
    exposure_seconds: exposure === null ? null : Math.round(exposure),
    exposure_from: exposureFrom,
    rpo_seconds: rpo,
    last_check: check ? { time: check.time, ok: check.result === 'ok', read_data_share: typeof check.figures.read_data_share === 'number' ? check.figures.read_data_share : 0 } : null,
    last_drill: drill
      ? { time: drill.time, ok: drill.result === 'ok', snapshot_id: typeof drill.inputs.snapshot_id === 'string' ? drill.inputs.snapshot_id : null, rto_seconds: drillRto, error: drill.error ?? null }
      : null,
    rto_seconds: rto,
    immutability,
    verdict: violated.length > 0 ? 'violated' : atRisk.length > 0 ? 'at risk' : 'ok',
    reasons: [...violated, ...atRisk],
  };
}

export interface ApplicationStatus {
  readonly application: string;
  readonly sources: readonly string[];
  /** The oldest exposure among the sources: what the application as a whole would lose. */
  readonly exposure_seconds: number | null;
  readonly rpo_seconds: number | null;
  /**
   * The newest drill run that restored every source of the application (one `drill` invocation, one op id): the sum
   * of their restore times, since a drill restores them one after another as a real recovery would.
   */
  readonly last_drill: { time: string; ok: boolean; rto_seconds: number } | null;
  readonly rto_seconds: number | null;
  readonly verdict: Verdict;
  readonly reasons: string[];
}

/** An application (a group of sources) against its own objectives, from its sources' statuses and their journals. */
export function applicationStatus(name: string, app: { sources: readonly string[]; rpo?: number | undefined; rto?: number | undefined }, members: readonly SourceStatus[], journal: readonly JournalEntryWithId[]): ApplicationStatus {
  const rpo = app.rpo === undefined ? null : app.rpo / 1000;
  const rto = app.rto === undefined ? null : app.rto / 1000;
  const exposures = members.map((m) => m.exposure_seconds);
  const exposure = exposures.some((e) => e === null) || exposures.length === 0 ? null : Math.max(...(exposures as number[]));
  // drill runs that covered every member, newest first
  const runs = new Map<string, JournalEntryWithId[]>();
  for (const e of journal) if (e.operation === 'drill' && e.source !== null && app.sources.includes(e.source) && e.inputs.sampled_older !== true) runs.set(e.op_id, [...(runs.get(e.op_id) ?? []), e]);
  const complete = [...runs.values()].filter((list) => app.sources.every((s) => list.some((e) => e.source === s))).sort((a, b) => b.at(-1)!.time.localeCompare(a.at(-1)!.time))[0];
  const drill = complete
    ? { time: complete.at(-1)!.time, ok: complete.every((e) => e.result === 'ok'), rto_seconds: Math.round(complete.reduce((n, e) => n + (typeof e.figures.rto_seconds === 'number' ? e.figures.rto_seconds : 0), 0) * 100) / 100 }
    : null;
  const violated: string[] = [];
  const atRisk: string[] = [];
  if (exposure === null) violated.push(`not every source is backed up (${members.filter((m) => m.exposure_seconds === null).map((m) => m.source).join(', ')})`);
  else if (rpo !== null && exposure > rpo) violated.push(`its oldest protection is ${formatAge(exposure)} old, over the RPO of ${formatAge(rpo)}`);
  else if (rpo !== null && exposure > rpo * RPO_WARNING_SHARE) atRisk.push(`its oldest protection is ${formatAge(exposure)} old, ${Math.round((exposure / rpo) * 100)}% of the RPO`);
  if (drill && !drill.ok) violated.push(`the last drill of all its sources (${drill.time}) failed`);
  else if (drill && rto !== null && drill.rto_seconds > rto) violated.push(`restoring all its sources took ${formatAge(drill.rto_seconds)} in the last drill, over the RTO of ${formatAge(rto)}`);
  else if (!drill && rto !== null) atRisk.push(`its sources were never drilled together: the RTO is unproven (run \`safepoint drill ${app.sources.map((s) => `--source ${s}`).join(' ')}\`)`);
  for (const m of members) if (m.verdict === 'violated') atRisk.push(`source ${m.source} is violated`);
  return {
    application: name,
    sources: app.sources,
    exposure_seconds: exposure,
    rpo_seconds: rpo,
    last_drill: drill,
    rto_seconds: rto,
    verdict: violated.length > 0 ? 'violated' : atRisk.length > 0 ? 'at risk' : 'ok',
    reasons: [...violated, ...atRisk],
  };
}
