/**
 * RPO exposure over time. Between two protections the exposure (what a failure would lose) grows from 0 to the gap
 * between them, then drops when the next one lands: a sawtooth. Its peaks are enough to draw and judge it.
 */
import { isContinuous, type SnapshotWithId } from '../repo/snapshot.js';
import { restorePoints } from '../status/status.js';
import type { ExposurePeak, RpoCompliance } from './model.js';

/** When each protection of the source ended (ms), ascending: restore points, and continuous entries after the first one. */
export function protectionEnds(snapshots: readonly SnapshotWithId[], source: string): number[] {
  const points = restorePoints(snapshots, source);
  const first = points[0];
  if (!first) return [];
  const continuous = snapshots.filter((s) => s.source === source && isContinuous(s) && s.time > first.time);
  return [...points, ...continuous].map((s) => Date.parse(s.summary?.backup_end ?? s.time)).filter(Number.isFinite).sort((a, b) => a - b);
}

/**
 * The peaks inside [since, now]: at each protection after the first, the gap since the one before; then the
 * exposure now. `rpo` (seconds, or null) marks the peaks over the objective.
 */
export function exposurePeaks(ends: readonly number[], since: number, now: number, rpo: number | null): ExposurePeak[] {
  const peak = (at: number, from: number, current: boolean): ExposurePeak => {
    const seconds = Math.max(0, (at - from) / 1000);
    return { time: new Date(at).toISOString(), exposure_seconds: round(seconds), over_rpo: rpo !== null && seconds > rpo, current };
  };
  const peaks: ExposurePeak[] = [];
  for (let i = 1; i < ends.length; i++) {
    const at = ends[i]!;
    if (at >= since && at <= now) peaks.push(peak(at, ends[i - 1]!, false));
  }
  const last = ends.at(-1);
  if (last !== undefined && last <= now) peaks.push(peak(now, last, true));
  return peaks;
}

/** How well the period kept within the RPO, from the protections' end times (ms) and the peaks inside it. */
export function rpoCompliance(ends: readonly number[], peaks: readonly ExposurePeak[], since: number, now: number, rpo: number | null): RpoCompliance {
  const worst = peaks.length === 0 ? null : Math.max(...peaks.map((p) => p.exposure_seconds));
  const breaches = peaks.filter((p) => p.over_rpo).length;
  const first = ends[0];
  if (rpo === null || first === undefined) return { rpo_seconds: rpo, worst_exposure_seconds: worst, breaches, within_share: null };
  const from = Math.max(since, first);
  if (now <= from) return { rpo_seconds: rpo, worst_exposure_seconds: worst, breaches, within_share: null };
  // each gap [a, b] is over the RPO from a + rpo to b; the last gap runs until now
  let over = 0;
  const gaps = ends.map((a, i) => [a, ends[i + 1] ?? now] as const);
  for (const [a, b] of gaps) over += Math.max(0, Math.min(b, now) - Math.max(a + rpo * 1000, from));
  return { rpo_seconds: rpo, worst_exposure_seconds: worst, breaches, within_share: Math.round((1 - over / (now - from)) * 10_000) / 10_000 };
}

/** The most peaks the series keeps (continuous protection makes one every few seconds). */
export const MAX_PEAKS = 500;

/**
 * At most `max` peaks: when there are more, the period is cut into `max - 1` slices and each keeps its highest peak;
 * the current one is always kept. The shape and every breach large enough to see stay on the chart.
 */
export function thinPeaks(peaks: readonly ExposurePeak[], since: number, now: number, max = MAX_PEAKS): ExposurePeak[] {
  if (peaks.length <= max) return [...peaks];
  const slices = max - 1;
  const best = new Map<number, ExposurePeak>();
  for (const p of peaks) {
    if (p.current) continue;
    const k = Math.min(slices - 1, Math.floor(((Date.parse(p.time) - since) / Math.max(1, now - since)) * slices));
    const kept = best.get(k);
    if (!kept || p.exposure_seconds > kept.exposure_seconds) best.set(k, p);
  }
  const current = peaks.filter((p) => p.current);
  return [...[...best.values()].sort((a, b) => a.time.localeCompare(b.time)), ...current];
}

const round = (s: number): number => Math.round(s * 100) / 100;
