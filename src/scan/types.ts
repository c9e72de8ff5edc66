/** The figures the anomaly scan measures for one snapshot, against the snapshot before it (docs/scan.md). */
export interface ScanFigures {
  /** Regular files in the snapshot. */
  files: number;
  /** In the snapshot before; null for the first of the source (it has nothing to compare with). */
  files_before: number | null;
  files_new: number;
  files_changed: number;
  files_deleted: number;
  /** (new + changed + deleted) / files before. */
  change_rate: number | null;
  /** Files whose content reappears under another base name (moves that keep the name are not counted). */
  files_renamed: number;
  /** Deleted files that reappear with an extension appended (`a.txt` → `a.txt.locked`). */
  files_extension_appended: number;
  /** The extensions they got: extension → files. */
  appended_extensions: Record<string, number>;
  /** Extensions no earlier non-suspicious snapshot had, on new files: extension → files. */
  unseen_extensions: Record<string, number>;
  /** New files with an extension of the curated ransomware list. */
  files_ransomware_extension: number;
  /** Which of those extensions (distinct). */
  ransomware_extensions: string[];
  /** Deletions not explained by a rename, from folders that still exist. */
  files_deleted_in_place: number;
  /** Deletions of whole folders. */
  files_deleted_with_folder: number;
  /** files_deleted_in_place / files before. */
  deletion_rate: number | null;
  /** Changed files whose first chunk was read and whose previous head compressed well. */
  heads_sampled: number;
  /** Of those, heads that now look encrypted. */
  heads_encrypted: number;
  /** heads_encrypted / heads_sampled; null when nothing was sampled. */
  high_entropy_share: number | null;
  /** Mean head entropy (bits/byte) and zstd ratio of the encrypted-looking heads, before and after. */
  head_entropy_before: number | null;
  head_entropy_after: number | null;
  head_ratio_before: number | null;
  head_ratio_after: number | null;
  /** First chunks that could not be read (missing or damaged blob): `safepoint check` says more. */
  heads_unreadable: number;
  /** New files named like ransom notes (the first few paths; ransom_notes_count is exact). */
  ransom_notes: string[];
  ransom_notes_count: number;
  /** New scripts or executables in config or web folders (the first few paths; the count is exact). */
  scripts_added: string[];
  scripts_added_count: number;
  /** Files in config or web folders whose exec bit was newly set (the first few; the count is exact). */
  exec_bit_set: string[];
  exec_bit_set_count: number;
  /** Database snapshots with row counts in their meta: total rows, and tables that lost most of their rows. */
  rows_before: number | null;
  rows_after: number | null;
  tables_emptied: string[];
  /**
   * PostgreSQL snapshots whose meta has table_activity (cumulative pg_stat_user_tables counters) and the same
   * stats_reset as the previous snapshot's: rows inserted, updated and deleted between the two backups, over the tables
   * both have (null otherwise: the first snapshot, other sources, counters reset in between).
   */
  rows_inserted: number | null;
  rows_updated: number | null;
  rows_deleted: number | null;
  /** rows_updated + rows_deleted: rows rewritten or removed in place, which row counts do not show. */
  row_churn: number | null;
  /** Rows at the previous backup, what row_churn is a share of: its exact counts (meta.tables), else n_live_tup. */
  rows_previous: number | null;
  /** Tables whose counters went back since the previous backup (recreated, or reset alone): left out of the churn. */
  tables_counters_reset: string[];
  /** Files an earlier suspicious snapshot encrypted, renamed or dropped that are still here unchanged. */
  files_carried: number;
  carried_from: string | null;
  baseline: Baseline;
}

/** The source's habits: medians over earlier non-suspicious snapshots (null when there is none to learn from). */
export interface Baseline {
  snapshots: number;
  change_rate: number | null;
  deletion_rate: number | null;
  high_entropy_share: number | null;
  scripts_added: number | null;
  /** Median row_churn (rows updated or deleted between two backups). */
  row_churn: number | null;
}

/** The verdict on one snapshot. `score` is in [0, 1]; `suspicious` when it reaches THRESHOLDS.suspiciousScore. */
export interface ScanResult {
  snapshot_id: string;
  time: string;
  source: string | null;
  suspicious: boolean;
  score: number;
  /** One line per heuristic that fired, naming its figure and the baseline (also when the score stays low). */
  reasons: string[];
  figures: ScanFigures;
}

export interface ScanProgress {
  /** Snapshots done so far, of `total`. */
  readonly done: number;
  readonly total: number;
  /** The snapshot being scanned now. */
  readonly snapshot_id: string;
}

export interface ScanOptions {
  onProgress?: (p: ScanProgress) => void;
}
