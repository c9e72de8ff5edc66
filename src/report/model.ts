/**
 * The report model (`safepoint report --format json` prints it as is; docs/report.md describes it). Times are ISO
 * 8601 strings, durations and ages seconds, sizes bytes. Bump REPORT_VERSION when a field changes meaning or goes.
 */
import type { SourceStatus, Verdict } from '../status/status.js';

export const REPORT_VERSION = 1;

export interface ReportData {
  readonly report_version: typeof REPORT_VERSION;
  readonly project: string;
  /** When the report was made: the "now" every age and verdict is measured from. */
  readonly generated: string;
  /** What the series, drills, checks and failures cover; verdicts are always as of `generated`. */
  readonly period: { readonly since: string; readonly until: string };
  readonly summary: ReportSummary;
  readonly sources: readonly SourceReport[];
}

export interface ReportSummary {
  readonly sources: number;
  readonly ok: number;
  readonly at_risk: number;
  readonly violated: number;
  /** Backups, drills and failures in the period, over every source. */
  readonly backups: number;
  readonly drills: number;
  readonly drills_failed: number;
  readonly failures: number;
}

export interface SourceReport {
  readonly name: string;
  readonly type: string;
  readonly repository: string;
  /** The repository could not be opened: the rest of the section is empty. */
  readonly repository_error: string | null;
  readonly objectives: { readonly rpo_seconds: number | null; readonly rto_seconds: number | null };
  readonly verdict: Verdict;
  readonly reasons: readonly string[];
  /** The status as `safepoint status --json` shows it (last backup, exposure, last drill, last check). */
  readonly status: SourceStatus;
  /** The newest backups of the period (at most LAST_BACKUPS), newest first. */
  readonly last_backups: readonly BackupRow[];
  readonly rpo_compliance: RpoCompliance;
  readonly series: SourceSeries;
  /** Checks of the source's repository in the period, newest first. */
  readonly checks: readonly CheckRow[];
  /** Drills of the source in the period, newest first. */
  readonly drills: readonly DrillRow[];
  /** Restores and rollbacks of the source in the period (journal), newest first. */
  readonly recoveries: readonly RecoveryRow[];
  /** What went wrong in the period, and why, newest first. */
  readonly failures: readonly FailureRow[];
  readonly immutability: SourceStatus['immutability'];
}

export interface BackupRow {
  readonly snapshot_id: string;
  readonly time: string;
  readonly type: string;
  readonly tags: readonly string[];
  /** What it backed up: folders, a database file, `<stream>` names. */
  readonly paths: readonly string[];
  readonly bytes_processed: number;
  readonly data_added: number;
  readonly duration_seconds: number;
  readonly files: number;
  readonly complete: boolean;
}

export interface RpoCompliance {
  readonly rpo_seconds: number | null;
  /** The largest exposure of the period (a peak of the sawtooth, the current exposure included); null without backups. */
  readonly worst_exposure_seconds: number | null;
  /** Peaks over the RPO: moments a failure would have lost more than the objective allows. */
  readonly breaches: number;
  /**
   * Share of the period (from the first protection on, when it falls inside the period) during which the exposure
   * stayed within the RPO; null without an RPO or without backups.
   */
  readonly within_share: number | null;
}

export interface SourceSeries {
  /** Every backup of the period (restore points, safety copies, incomplete ones), oldest first. */
  readonly backups: readonly { readonly time: string; readonly bytes_processed: number; readonly data_added: number; readonly duration_seconds: number; readonly complete: boolean }[];
  /**
   * The peaks of the RPO exposure sawtooth, oldest first: at each new protection (restore point or continuous entry),
   * the age the previous one had reached; the last point is the exposure now (`current`).
   */
  readonly rpo_exposure: readonly ExposurePeak[];
  /** Each drill's measured restore time against the objective, oldest first. */
  readonly drill_rto: readonly { readonly time: string; readonly rto_seconds: number | null; readonly rto_objective_seconds: number | null; readonly ok: boolean }[];
}

export interface ExposurePeak {
  /** When the exposure reached this value (a protection ended then, or now for the current one). */
  readonly time: string;
  readonly exposure_seconds: number;
  readonly over_rpo: boolean;
  readonly current: boolean;
}

export interface CheckRow {
  readonly time: string;
  readonly ok: boolean;
  readonly read_data_share: number;
  readonly problems: number | null;
  readonly seconds: number | null;
  readonly error: string | null;
}

export interface DrillRow {
  readonly time: string;
  readonly snapshot_id: string | null;
  readonly ok: boolean;
  readonly rto_seconds: number | null;
  readonly rto_objective_seconds: number | null;
  readonly sampled_older: boolean;
  readonly point: string | null;
  readonly error: string | null;
}

export interface RecoveryRow {
  readonly time: string;
  readonly operation: string;
  readonly ok: boolean;
  /** What it went back to: a time, a snapshot. */
  readonly target: string | null;
  readonly seconds: number | null;
  readonly error: string | null;
}

export interface FailureRow {
  readonly time: string;
  /** `drill`, `check`, `backup`, `rollback-data`...; `incomplete backup` for a snapshot with unreadable files; `repository` when it cannot be opened. */
  readonly what: string;
  readonly cause: string;
  readonly snapshot_id: string | null;
}
