/**
 * Retention of a database source, pgBackRest's way (`retention: { full: N, diff: M }`) together with restic's keep
 * policy: what a `forget --source DB` keeps and removes among the source's backups and its continuous entries.
 *
 * - `full: N` keeps the newest N full backups and everything newer than the oldest of them; older backups of any
 *   type go (a differential or incremental backup is only meaningful with the full one before it). The bases of
 *   replicated SQLite generations count as full backups.
 * - `diff: M` keeps the newest M differential backups (after the full cut); an expired differential takes the
 *   incremental backups that follow it (until the next full or differential) with it.
 * - a `keep_*` policy, when there is one too, keeps what it selects as well.
 * - a backup that a kept one is applied on top of (MariaDB incremental chains, `meta.base`) is always kept.
 * - the PostgreSQL WAL archive keeps every file pushed since the oldest kept base backup started (recovery from that
 *   backup reads them) and every timeline history file; SQLite replication keeps the generations whose base is at
 *   or after the cut; MariaDB binlogs from the file the oldest kept backup ends in. With no backup kept,
 *   continuous entries are all kept.
 */
import { isContinuous, type SnapshotWithId } from '../repo/snapshot.js';

export interface DatabaseRetention {
  readonly full?: number | undefined;
  readonly diff?: number | undefined;
}

export interface DatabaseRetentionPlan {
  readonly keep: Map<string, string>;
  readonly remove: SnapshotWithId[];
}

const byTime = (a: SnapshotWithId, b: SnapshotWithId): number => a.time.localeCompare(b.time) || a.id.localeCompare(b.id);
const mode = (s: SnapshotWithId): unknown => s.meta?.mode;

/** `also`: ids a keep_* policy keeps among the backups (not the continuous entries), with its reasons. */
export function planDatabaseRetention(snapshots: readonly SnapshotWithId[], r: DatabaseRetention, also: ReadonlyMap<string, string> = new Map()): DatabaseRetentionPlan {
  const all = [...snapshots].sort(byTime);
  const keep = new Map<string, string>();
  // the points a restore starts from: backups, and the bases of replicated SQLite generations (full copies)
  const points = all.filter((s) => !isContinuous(s) || mode(s) === 'replica-base');
  const rules = r.full !== undefined || r.diff !== undefined;
  const fulls = points.filter((s) => s.type === 'full');
  const cut = r.full !== undefined ? (fulls.slice(-r.full)[0]?.time ?? null) : null;
  if (rules) for (const s of points) if (cut === null || s.time >= cut) keep.set(s.id, s.type === 'full' ? (r.full !== undefined ? `one of the newest ${r.full} full` : 'full') : 'after the oldest kept full');
  if (r.diff !== undefined) {
    const diffs = points.filter((s) => s.type === 'differential' && keep.has(s.id));
    const expired = new Set(diffs.slice(0, Math.max(0, diffs.length - r.diff)).map((s) => s.id));
    let dropping = false;
    for (const s of points) {
      if (s.type === 'full') dropping = false;
      else if (s.type === 'differential') dropping = expired.has(s.id);
      if (dropping) keep.delete(s.id);
    }
  }
  for (const [id, why] of also) if (points.some((s) => s.id === id) && !keep.has(id)) keep.set(id, why);
  // what a kept backup is applied on top of
  const byId = new Map(all.map((s) => [s.id, s]));
  for (const id of [...keep.keys()]) {
    let base = byId.get(id)?.meta?.base;
    while (typeof base === 'string' && byId.has(base) && !keep.has(base)) {
      keep.set(base, `needed by ${id.slice(0, 8)}`);
      base = byId.get(base)?.meta?.base;
    }
  }
  const keptBackups = points.filter((s) => keep.has(s.id) && !isContinuous(s));
  // PostgreSQL WAL: from the start of the oldest kept base backup on
  const pgBases = keptBackups.filter((s) => s.meta?.kind === 'postgres' && mode(s) === 'physical');
  const walFrom = pgBases.length > 0 ? pgBases.reduce((m, s) => (s.summary.backup_start < m ? s.summary.backup_start : m), pgBases[0]!.summary.backup_start) : null;
  // MariaDB binlogs: from the file the oldest kept backup ends in
  const seq = (f: unknown): number => Number(/\.(\d+)$/.exec(String(f))?.[1] ?? -1);
  const binlogStarts = keptBackups.map((s) => (s.meta?.binlog as { file?: string } | null | undefined)?.file).filter((f): f is string => typeof f === 'string').map(seq);
  const binlogFrom = binlogStarts.length > 0 ? Math.min(...binlogStarts) : null;
  // SQLite generations: those whose base is kept
  const keptGenerations = new Set(points.filter((s) => mode(s) === 'replica-base' && keep.has(s.id)).map((s) => String(s.meta?.generation)));
  for (const s of all.filter(isContinuous)) {
    if (mode(s) === 'wal') {
      const file = String(s.meta?.file ?? '');
      const pushed = String(s.meta?.pushed_at ?? s.time);
      if (file.endsWith('.history')) keep.set(s.id, 'timeline history');
      else if (walFrom === null || pushed >= walFrom) keep.set(s.id, walFrom === null ? 'no base backup kept' : 'WAL since the oldest kept base backup');
    } else if (mode(s) === 'binlog') {
      if (binlogFrom === null || seq(s.meta?.file) >= binlogFrom) keep.set(s.id, binlogFrom === null ? 'no backup with a binlog position kept' : 'binlog since the oldest kept backup');
    } else if (mode(s) === 'replica-base') {
      continue; // a restore point: decided above
    } else if (mode(s) === 'replica-wal') {
      if (keptGenerations.has(String(s.meta?.generation))) keep.set(s.id, 'replicated generation after the cut');
    } else keep.set(s.id, 'continuous entry');
  }
  return { keep, remove: all.filter((s) => !keep.has(s.id)) };
}
