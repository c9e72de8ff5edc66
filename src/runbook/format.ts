/** Durations, figures, times and schedules written in the runbook's language. */
import type { DatabaseSchedule } from '../config/schema-sources.js';
import type { Words } from './words-en.js';

type Unit = keyof Words['units'];

/** A duration for objectives and ages: `24 hours`, `1 hour 30 minutes`, `3 days 4 hours` (two parts at most). */
export function duration(ms: number, w: Words): string {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  const seconds = ms / 1000;
  if (seconds < 60 && !Number.isInteger(seconds)) return measuredSeconds(seconds, w);
  if (seconds < 60) return `${seconds} ${w.plural(seconds) ? w.units.second[1] : w.units.second[0]}`;
  const parts: [Unit, number][] = [];
  let rest = Math.round(seconds);
  // days only from two days on: "24 hours" reads better than "1 day" for an RPO
  const sizes: [Unit, number][] = [['day', 86_400], ['hour', 3600], ['minute', 60], ['second', 1]];
  for (const [unit, size] of sizes) {
    if (unit === 'day' && rest < 2 * 86_400) continue;
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n > 0) parts.push([unit, n]);
  }
  return parts.slice(0, 2).map(([unit, n]) => `${n} ${w.plural(n) ? w.units[unit][1] : w.units[unit][0]}`).join(' ');
}

/** A measured time in seconds: `0.42 s` (`0,42 s` in French), `12 s`, `3 minutes 5 seconds` from a minute on. */
export function measuredSeconds(s: number, w: Words): string {
  if (!Number.isFinite(s) || s < 0) return '-';
  if (s >= 60) return duration(s * 1000, w);
  const digits = s < 10 ? 2 : 0;
  return `${new Intl.NumberFormat(w.locale, { maximumFractionDigits: digits, minimumFractionDigits: 0 }).format(s)} s`;
}

/** A time as people read it in logs, in UTC: `2026-11-29 07:12:00 UTC`. */
export function utc(t: Date | string): string {
  const d = typeof t === 'string' ? new Date(t) : t;
  if (Number.isNaN(d.getTime())) return String(t);
  return `${d.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/**
 * A cron expression in words when it is one of the common shapes (daily, weekly, a weekday range, monthly, every N
 * hours or minutes, a @macro); null otherwise (the expression is shown alone).
 */
export function cronWords(expr: string, w: Words): string | null {
  const macro = (w.cron.macros as Readonly<Record<string, string>>)[expr.trim()];
  if (macro !== undefined) return macro;
  const f = expr.trim().split(/\s+/);
  if (f.length !== 5) return null;
  const [min = '', hour = '', dom = '', month = '', dow = ''] = f;
  const num = (s: string): number | null => (/^\d+$/.test(s) ? Number(s) : null);
  const day = (s: string): string | undefined => {
    const names = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
    const n = num(s) ?? names.indexOf(s.toLowerCase());
    return n >= 0 && n <= 7 ? w.cron.days[n % 7] : undefined;
  };
  const m = num(min);
  const h = num(hour);
  if (month !== '*') return null;
  if (m !== null && h !== null) {
    const at = w.cron.time(h, m);
    if (dom === '*' && dow === '*') return w.cron.daily(at);
    if (dom === '*' && day(dow) !== undefined) return w.cron.weekly(day(dow)!, at);
    const range = /^(\w+)-(\w+)$/.exec(dow);
    if (dom === '*' && range && day(range[1]!) !== undefined && day(range[2]!) !== undefined) return w.cron.weekdays(day(range[1]!)!, day(range[2]!)!, at);
    if (dow === '*' && num(dom) !== null) return w.cron.monthly(num(dom)!, at);
    return null;
  }
  if (dom !== '*' || dow !== '*') return null;
  const everyHours = /^\*\/(\d+)$/.exec(hour);
  if (m !== null && everyHours) return w.cron.everyHours(Number(everyHours[1]), m);
  if (m !== null && hour === '*') return w.cron.hourly(m);
  const everyMinutes = /^\*\/(\d+)$/.exec(min);
  if (everyMinutes && hour === '*') return w.cron.everyMinutes(Number(everyMinutes[1]));
  return null;
}

/** A schedule as written (in code) with its meaning: `` `0 2 * * *` (every day at 02:00) ``. */
export function schedule(expr: string, w: Words): string {
  if (expr === 'on-major-commit') return w.cron.onMajorCommit;
  const words = cronWords(expr, w);
  return `\`${expr}\`${words === null ? '' : ` (${words})`}`;
}

/** A database schedule: one expression, or one per backup type. */
export function databaseSchedule(s: DatabaseSchedule, w: Words): string[] {
  if (typeof s === 'string') return [schedule(s, w)];
  return [
    `${w.backupTypes.full}${w.colon}${schedule(s.full, w)}`,
    ...(s.diff === undefined ? [] : [`${w.backupTypes.diff}${w.colon}${schedule(s.diff, w)}`]),
    ...(s.incr === undefined ? [] : [`${w.backupTypes.incr}${w.colon}${schedule(s.incr, w)}`]),
  ];
}
