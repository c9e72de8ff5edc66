/** Schedules in the configuration: 5-field cron expressions, a few @macros, and event triggers. */

/** Schedules that are not time-based: run by an event instead of the clock. */
export const EVENT_SCHEDULES = ['on-major-commit'] as const;
export const CRON_MACROS = ['@hourly', '@daily', '@weekly', '@monthly', '@yearly'] as const;

interface CronField {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly names?: readonly string[];
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const FIELDS: readonly CronField[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS },
  { name: 'day of week', min: 0, max: 7, names: DAYS },
];

/**
 * Checks a schedule's shape: a 5-field cron expression (minute hour day-of-month month day-of-week,
 * with `*`, lists, ranges, steps and jan–dec / sun–sat names), one of CRON_MACROS, or one of
 * EVENT_SCHEDULES. Returns what is wrong, or undefined when it is well formed.
 */
export function scheduleProblem(text: string): string | undefined {
  const s = text.trim();
  if ((EVENT_SCHEDULES as readonly string[]).includes(s) || (CRON_MACROS as readonly string[]).includes(s)) return undefined;
  const parts = s.split(/\s+/);
  if (parts.length !== FIELDS.length) {
    return `invalid schedule "${text}": expected a cron expression with 5 fields (minute hour day month weekday, e.g. "0 2 * * *"), ${CRON_MACROS.join(', ')} or ${EVENT_SCHEDULES.join(', ')}`;
  }
  for (const [i, field] of FIELDS.entries()) {
    const problem = cronFieldProblem(parts[i] ?? '', field);
    if (problem !== undefined) return `invalid schedule "${text}": ${field.name} ${problem}`;
  }
  return undefined;
}

function cronFieldProblem(text: string, field: CronField): string | undefined {
  for (const item of text.split(',')) {
    const m = /^(\*|[0-9a-z]+(?:-[0-9a-z]+)?)(?:\/(\d+))?$/i.exec(item);
    if (m === null) return `"${item}" is not a number, range, list or step`;
    const [, range = '', step] = m;
    if (step !== undefined && Number(step) === 0) return `"${item}" has a zero step`;
    if (range === '*') continue;
    for (const value of range.split('-')) {
      const n = cronValue(value, field);
      if (n === undefined) return `"${value}" is not valid here (${field.min}-${field.max}${field.names ? ` or ${field.names[0]}-${field.names.at(-1)}` : ''})`;
    }
  }
  return undefined;
}

function cronValue(text: string, field: CronField): number | undefined {
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    return n >= field.min && n <= field.max ? n : undefined;
  }
  const index = field.names?.indexOf(text.toLowerCase()) ?? -1;
  if (index < 0) return undefined;
  return field.names === MONTHS ? index + 1 : index;
}
