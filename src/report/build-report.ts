/**
 * The report of a project over a period, from its config and what its repositories hold (snapshots and journal).
 * Pure: the caller reads the repositories (src/cli/status.ts readRepositories) and gives the time.
 */
import type { Config } from '../config/schema.js';
import type { SourceConfig } from '../config/schema-sources.js';
import type { JournalEntryWithId } from '../journal/journal.js';
import { isContinuous, type SnapshotWithId } from '../repo/snapshot.js';
import { sourceStatus } from '../status/status.js';
import { exposurePeaks, protectionEnds, rpoCompliance, thinPeaks } from './exposure.js';
import { REPORT_VERSION, type BackupRow, type CheckRow, type DrillRow, type FailureRow, type RecoveryRow, type ReportData, type SourceReport } from './model.js';

/** What the report needs of a repository; `error` when it could not be opened. */
export interface ReportRepositoryState {
  readonly snapshots: readonly SnapshotWithId[];
  /** Oldest first. */
  readonly journal: readonly JournalEntryWithId[];
  readonly appendOnlyKey: boolean;
  readonly error?: string;
}

export type ReportConfig = Pick<Config, 'project' | 'sources' | 'repositories'>;

/** How many backups the "last backups" table lists per source. */
export const LAST_BACKUPS = 10;
/** How many warnings of an incomplete backup are quoted as its cause. */
const WARNINGS_QUOTED = 3;

export function buildReport(cfg: ReportConfig, states: ReadonlyMap<string, ReportRepositoryState>, now: Date, since: Date): ReportData {
  const sources = cfg.sources.map((s) => sourceReport(cfg, s, states.get(s.repository) ?? { snapshots: [], journal: [], appendOnlyKey: false, error: 'not read' }, now, since));
  const count = (v: SourceReport['verdict']): number => sources.filter((s) => s.verdict === v).length;
  return {
    report_version: REPORT_VERSION,
    project: cfg.project,
    generated: now.toISOString(),
    period: { since: since.toISOString(), until: now.toISOString() },
    summary: {
      sources: sources.length,
      ok: count('ok'),
      at_risk: count('at risk'),
      violated: count('violated'),
      backups: sum(sources.map((s) => s.series.backups.length)),
      drills: sum(sources.map((s) => s.drills.length)),
      drills_failed: sum(sources.map((s) => s.drills.filter((d) => !d.ok).length)),
      failures: sum(sources.map((s) => s.failures.length)),
    },
    sources,
  };
}

function sourceReport(cfg: ReportConfig, source: SourceConfig, st: ReportRepositoryState, now: Date, since: Date): SourceReport {
  const name = source.name;
  const repository = Object.hasOwn(cfg.repositories, source.repository) ? (cfg.repositories[source.repository] ?? null) : null;
  const base = sourceStatus({ source, repository, snapshots: st.snapshots, journal: st.journal, appendOnlyKey: st.appendOnlyKey, now });
  // as `safepoint status` says it: an unreadable repository violates every objective of its sources
  const status = st.error
    ? { ...base, verdict: 'violated' as const, reasons: [`repository ${source.repository} cannot be opened: ${st.error}`, ...base.reasons.filter((r) => r !== 'never backed up')] }
    : base;
  const from = since.getTime();
  const to = now.getTime();
  const inPeriod = (t: string): boolean => {
    const ms = Date.parse(t);
    return ms >= from && ms <= to;
  };
  const newestFirst = <T extends { time: string }>(rows: T[]): T[] => rows.sort((a, b) => b.time.localeCompare(a.time));

  const backups = st.snapshots.filter((s) => s.source === name && !isContinuous(s) && inPeriod(s.time)).sort((a, b) => a.time.localeCompare(b.time)).map(backupRow);
  const entries = st.journal.filter((e) => inPeriod(e.time));
  const drills = entries.filter((e) => e.operation === 'drill' && e.source === name).map((e) => drillRow(e, source));
  const checks = entries.filter((e) => e.operation === 'check').map(checkRow);
  const recoveries = entries.filter((e) => e.source === name && /^(restore|rollback)/.test(e.operation)).map(recoveryRow);

  const rpo = status.rpo_seconds;
  const ends = protectionEnds(st.snapshots, name);
  const peaks = exposurePeaks(ends, from, to, rpo);

  return {
    name,
    type: source.type,
    repository: source.repository,
    repository_error: st.error ?? null,
    objectives: { rpo_seconds: rpo, rto_seconds: status.rto_seconds },
    verdict: status.verdict,
    reasons: status.reasons,
    status,
    last_backups: [...backups].reverse().slice(0, LAST_BACKUPS),
    rpo_compliance: rpoCompliance(ends, peaks, from, to, rpo),
    series: {
      backups: backups.map((b) => ({ time: b.time, bytes_processed: b.bytes_processed, data_added: b.data_added, duration_seconds: b.duration_seconds, complete: b.complete })),
      rpo_exposure: thinPeaks(peaks, from, to),
      drill_rto: drills.map((d) => ({ time: d.time, rto_seconds: d.rto_seconds, rto_objective_seconds: d.rto_objective_seconds, ok: d.ok })),
    },
    checks: newestFirst(checks),
    drills: newestFirst([...drills]),
    recoveries: newestFirst(recoveries),
    failures: newestFirst([
      ...(st.error ? [{ time: now.toISOString(), what: 'repository', cause: `repository ${source.repository} cannot be opened: ${st.error}`, snapshot_id: null }] : []),
      ...entries.filter((e) => e.result === 'failed' && (e.source === name || e.source === null)).map(failureRow),
      ...st.snapshots.filter((s) => s.source === name && !s.complete && inPeriod(s.time)).map(incompleteRow),
    ]),
    immutability: status.immutability,
  };
}

function backupRow(s: SnapshotWithId): BackupRow {
  return {
    snapshot_id: s.id,
    time: s.time,
    type: s.type,
    tags: s.tags,
    paths: s.paths,
    bytes_processed: s.summary?.total_bytes_processed ?? 0,
    data_added: s.summary?.data_added ?? 0,
    duration_seconds: s.summary?.total_duration ?? 0,
    files: s.summary?.total_files_processed ?? 0,
    complete: s.complete,
  };
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

function drillRow(e: JournalEntryWithId, source: SourceConfig): DrillRow {
  return {
    time: e.time,
    snapshot_id: str(e.inputs.snapshot_id),
    ok: e.result === 'ok',
    rto_seconds: num(e.figures.rto_seconds),
    rto_objective_seconds: num(e.figures.rto_objective_seconds) ?? (source.rto === undefined ? null : source.rto / 1000),
    sampled_older: e.inputs.sampled_older === true,
    point: str(e.inputs.point),
    error: e.error ?? null,
  };
}

function checkRow(e: JournalEntryWithId): CheckRow {
  return {
    time: e.time,
    ok: e.result === 'ok',
    read_data_share: num(e.figures.read_data_share) ?? 0,
    problems: num(e.figures.problems),
    seconds: num(e.figures.seconds),
    error: e.error ?? null,
  };
}

function recoveryRow(e: JournalEntryWithId): RecoveryRow {
  const i = e.inputs;
  return {
    time: e.time,
    operation: e.operation,
    ok: e.result === 'ok',
    target: str(i.recover_to) ?? str(i.to) ?? str(i.target_time) ?? str(i.snapshot_id),
    seconds: num(e.figures.seconds),
    error: e.error ?? null,
  };
}

function failureRow(e: JournalEntryWithId): FailureRow {
  return { time: e.time, what: e.operation, cause: e.error ?? 'no cause recorded (see `safepoint journal`)', snapshot_id: str(e.inputs.snapshot_id) };
}

function incompleteRow(s: SnapshotWithId): FailureRow {
  const w = s.warnings;
  const cause = w.length === 0 ? 'the backup did not complete' : `${w.slice(0, WARNINGS_QUOTED).join('; ')}${w.length > WARNINGS_QUOTED ? `; and ${w.length - WARNINGS_QUOTED} more` : ''}`;
  return { time: s.time, what: 'incomplete backup', cause, snapshot_id: s.id };
}

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);
