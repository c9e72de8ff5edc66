/** When a job is due, from its cron expression (croner), and whether a run was missed while the daemon was down. */
import { Cron } from 'croner';

const MACROS: Record<string, string> = { '@hourly': '0 * * * *', '@daily': '0 0 * * *', '@weekly': '0 0 * * 0', '@monthly': '0 0 1 * *', '@yearly': '0 0 1 1 *' };

function cron(expr: string): Cron {
  return new Cron(MACROS[expr] ?? expr, { paused: true });
}

/** The first scheduled time after `after`; null when the expression never fires again. */
export function nextTime(expr: string, after: Date): Date | null {
  return cron(expr).nextRun(after);
}

/** The last scheduled time at or before `at`; null when there was none. */
export function previousTime(expr: string, at: Date): Date | null {
  return cron(expr).previousRuns(1, new Date(at.getTime() + 1))[0] ?? null;
}

/**
 * A run is missed when the job was scheduled since it last started (or, never having run, since `since`, the time
 * the daemon first saw it): the daemon was down, or busy, at that moment.
 */
export function missedRun(expr: string, lastStart: Date | null, since: Date, now: Date): Date | null {
  const prev = previousTime(expr, now);
  if (!prev) return null;
  const reference = lastStart ?? since;
  return prev > reference ? prev : null;
}
