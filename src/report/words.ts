/** The wording both renderers share: times, ages against objectives, shares, summaries. Plain text, not escaped. */
import { shortId } from '../repo/ids.js';
import { formatAge, formatBytes } from '../util/format.js';
import type { ReportData, SourceReport } from './model.js';

/** `2026-11-29 04:00:12Z`. */
export const when = (iso: string): string => iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');

/** A measured age or time against its objective: `12m / 1h 00m`, `never / 1h 00m`, `3.2s`. */
export function against(value: number | null, objective: number | null): string {
  return `${value === null ? 'never' : formatAge(value)}${objective === null ? '' : ` / ${formatAge(objective)}`}`;
}

export const objective = (seconds: number | null): string => (seconds === null ? 'not set' : formatAge(seconds));
export const percent = (share: number): string => `${Math.round(share * 1000) / 10}%`;
export const snapshot = (id: string | null): string => (id === null ? '-' : shortId(id));
export const bytes = formatBytes;
export const age = formatAge;

/** `3 sources: 1 ok, 1 at risk, 1 violated.` */
export function verdictLine(d: ReportData): string {
  const s = d.summary;
  return `${s.sources} source${s.sources === 1 ? '' : 's'}: ${s.ok} ok, ${s.at_risk} at risk, ${s.violated} violated.`;
}

/** `12 backups, 3 drills (1 failed), 2 failures in the period.` */
export function activityLine(d: ReportData): string {
  const s = d.summary;
  return `${s.backups} backup${s.backups === 1 ? '' : 's'}, ${s.drills} drill${s.drills === 1 ? '' : 's'}${s.drills_failed > 0 ? ` (${s.drills_failed} failed)` : ''}, ${s.failures} failure${s.failures === 1 ? '' : 's'} in the period.`;
}

/** The period in days, for headings: `30 days`. */
export function periodLength(d: ReportData): string {
  return formatAge((Date.parse(d.period.until) - Date.parse(d.period.since)) / 1000);
}

/** The last check of a source, for the overview: `ok 3h 05m ago`, `FAILED 2d 1h ago`, `never`. */
export function lastCheck(s: SourceReport, generated: string): string {
  const c = s.status.last_check;
  return c ? `${c.ok ? 'ok' : 'FAILED'} ${formatAge((Date.parse(generated) - Date.parse(c.time)) / 1000)} ago` : 'never';
}

/** The exposure of a source now, for the overview: `12m / 1h 00m (wal archive)`. */
export function exposureNow(s: SourceReport): string {
  const from = s.status.exposure_from;
  return `${against(s.status.exposure_seconds, s.objectives.rpo_seconds)}${from && from !== 'backup' ? ` (${from})` : ''}`;
}

/** The last drill of a source, for the overview: `4.1s / 15m`, `FAILED 4.1s / 15m`, `never / 15m`. */
export function lastDrill(s: SourceReport): string {
  const d = s.status.last_drill;
  return d ? `${d.ok ? '' : 'FAILED '}${against(d.rto_seconds, s.objectives.rto_seconds)}` : against(null, s.objectives.rto_seconds);
}

/** RPO compliance in a sentence. */
export function complianceLine(s: SourceReport): string {
  const c = s.rpo_compliance;
  if (c.worst_exposure_seconds === null) return 'no backup: nothing is protected.';
  const worst = `worst exposure ${formatAge(c.worst_exposure_seconds)}`;
  if (c.rpo_seconds === null) return `${worst}; no RPO set.`;
  const share = c.within_share === null ? '' : `, within the RPO ${percent(c.within_share)} of the time`;
  return `${worst} against an RPO of ${formatAge(c.rpo_seconds)}${share}; ${c.breaches === 0 ? 'no breach' : `${c.breaches} breach${c.breaches === 1 ? '' : 'es'}`}.`;
}
