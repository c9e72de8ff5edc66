/**
 * How long the drills still to run will take, from the restore times the journal measured: the ETA a drill shows
 * is the last measured RTO of each source waiting, not a guess from the sources done so far (one database can take
 * a hundred times as long as a folder).
 */
import type { JournalRecord } from '../journal/journal.js';

/** The restore time the last successful drill of each source measured, in seconds. */
export function lastDrillTimes(entries: readonly Pick<JournalRecord, 'operation' | 'source' | 'result' | 'figures'>[]): Map<string, number> {
  const times = new Map<string, number>();
  for (const e of entries) {
    const rto = e.figures?.rto_seconds;
    if (e.operation === 'drill' && e.result === 'ok' && e.source && typeof rto === 'number' && Number.isFinite(rto)) times.set(e.source, rto);
  }
  return times;
}

/**
 * Seconds left for `queue` (the source being drilled first, then those waiting), `elapsed` seconds into the first:
 * each source's last time, the mean of the known times for a source never drilled; null when no time is known.
 * The source under way counts for what is left of its time, never less than nothing.
 */
export function remainingSeconds(queue: readonly string[], times: ReadonlyMap<string, number>, elapsed: number): number | null {
  if (queue.length === 0) return 0;
  if (times.size === 0) return null;
  const mean = [...times.values()].reduce((a, b) => a + b, 0) / times.size;
  const each = queue.map((s) => times.get(s) ?? mean);
  return Math.max(0, each[0]! - elapsed) + each.slice(1).reduce((a, b) => a + b, 0);
}
