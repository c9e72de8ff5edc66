import { THRESHOLDS } from './thresholds.js';

/**
 * Rows per table recorded in a database snapshot's meta (`tables` for PostgreSQL and MariaDB dumps and SQLite copies;
 * `row_counts` accepted too); null for other snapshots.
 */
export function rowCounts(meta: Record<string, unknown> | undefined): Record<string, number> | null {
  const t = meta?.tables ?? meta?.row_counts;
  if (typeof t !== 'object' || t === null || Array.isArray(t)) return null;
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(t)) if (typeof v === 'number' && Number.isFinite(v)) out[k] = v;
  return out;
}

export interface RowFigures {
  readonly before: number;
  readonly after: number;
  /** Tables of at least minRows that lost THRESHOLDS.rows.tableDrop of their rows or vanished. */
  readonly emptied: readonly string[];
}

export const totalRows = (t: Record<string, number>): number => Object.values(t).reduce((s, n) => s + n, 0);

/** Compares two consecutive backups' row counts; tables in `churn` (emptied and refilled before) are left out of everything. */
export function compareRows(before: Record<string, number>, after: Record<string, number>, churn: ReadonlySet<string> = new Set()): RowFigures {
  const { minRows, tableDrop } = THRESHOLDS.rows;
  const emptied = Object.entries(before)
    .filter(([t, n]) => n >= minRows && !churn.has(t) && (after[t] ?? 0) <= n * (1 - tableDrop))
    .map(([t]) => t)
    .sort();
  const kept = (t: Record<string, number>): Record<string, number> => Object.fromEntries(Object.entries(t).filter(([k]) => !churn.has(k)));
  return { before: totalRows(kept(before)), after: totalRows(kept(after)), emptied };
}
