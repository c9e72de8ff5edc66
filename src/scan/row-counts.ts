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

/** A table's cumulative row counters, as a PostgreSQL backup records them (meta.table_activity, pg_stat_user_tables). */
export interface TableCounters {
  readonly ins: number;
  readonly upd: number;
  readonly del: number;
  /** n_live_tup, the server's estimate of the table's rows; null when not recorded. */
  readonly live: number | null;
}

/** A snapshot's counters and when they last restarted from zero (pg_stat_database.stats_reset; null: never reset). */
export interface Activity {
  readonly tables: Readonly<Record<string, TableCounters>>;
  readonly statsReset: string | null;
}

const count = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : null);

/** meta.table_activity and meta.stats_reset; null when the snapshot has none (other sources, older backups, unreadable). */
export function tableActivity(meta: Record<string, unknown> | undefined): Activity | null {
  const t = meta?.table_activity;
  if (typeof t !== 'object' || t === null || Array.isArray(t)) return null;
  const reset = meta?.stats_reset;
  if (reset !== null && typeof reset !== 'string') return null;
  const tables: Record<string, TableCounters> = {};
  for (const [name, v] of Object.entries(t)) {
    if (typeof v !== 'object' || v === null) continue;
    const c = v as Record<string, unknown>;
    const [ins, upd, del] = [count(c.ins), count(c.upd), count(c.del)];
    if (ins !== null && upd !== null && del !== null) tables[name] = { ins, upd, del, live: count(c.live) };
  }
  return { tables, statsReset: reset };
}

export interface ChurnFigures {
  readonly inserted: number;
  readonly updated: number;
  readonly deleted: number;
  /** updated + deleted. */
  readonly churn: number;
  /** Rows at the previous backup: its exact counts when it has them, else the sum of n_live_tup; null when neither. */
  readonly rowsBefore: number | null;
  /** Tables whose counters went back (dropped and recreated, or reset alone): their activity is unknown. */
  readonly reset: readonly string[];
}

/**
 * Rows inserted, updated and deleted between two backups, from their counters. Null when the counters are not
 * comparable: stats_reset differs (a reset or a crash restarted them), or every table's counters went back. Tables
 * new since the previous backup are left out: a renamed table reappears with its whole history, which is not churn.
 */
export function compareActivity(before: Activity, after: Activity, rowsBefore: Record<string, number> | null): ChurnFigures | null {
  if (before.statsReset !== after.statsReset) return null;
  let inserted = 0;
  let updated = 0;
  let deleted = 0;
  let compared = 0;
  const reset: string[] = [];
  for (const [t, a] of Object.entries(after.tables)) {
    const b = before.tables[t];
    if (!b) continue;
    if (a.ins < b.ins || a.upd < b.upd || a.del < b.del) {
      reset.push(t);
      continue;
    }
    compared++;
    inserted += a.ins - b.ins;
    updated += a.upd - b.upd;
    deleted += a.del - b.del;
  }
  if (compared === 0 && reset.length > 0) return null;
  const live = Object.values(before.tables).map((c) => c.live);
  const estimate = live.length > 0 && live.every((n) => n !== null) ? live.reduce<number>((s, n) => s + (n ?? 0), 0) : null;
  return { inserted, updated, deleted, churn: updated + deleted, rowsBefore: rowsBefore ? totalRows(rowsBefore) : estimate, reset: reset.sort() };
}
