/** Zod building blocks shared by the configuration schema: strict objects, names, durations, schedules. */
import { z } from 'zod';
import { parseDuration, parsePercent } from './duration.js';
import { scheduleProblem } from './schedule.js';
import { describeValue, hint } from './words.js';

/**
 * A strict object: unknown keys are errors. The message for each unknown key carries a
 * "did you mean" hint (one line per key, in the order of the issue's `keys`).
 */
export function strict<T extends z.core.$ZodLooseShape>(shape: T) {
  const known = Object.keys(shape);
  return z.strictObject(shape, {
    error: (iss) => (iss.code === 'unrecognized_keys' ? iss.keys.map((k) => `unknown key${hint(k, known, 'expected one of')}`).join('\n') : undefined),
  });
}

/** A non-empty string. */
export const text = z.string().min(1, 'must not be empty');

/** A file or folder path; relative paths are resolved against the config file's folder after validation. */
export const pathText = text;

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** A name used in tags, file names and messages: letters, digits, `.`, `_`, `-`. */
export const name = z.string().regex(NAME, 'use letters, digits, ".", "_" and "-", starting with a letter or digit');

/** A whole number ≥ min. Strings of digits (e.g. from `${PORT}`) are accepted as numbers. */
export function int(min = 0, max?: number) {
  const n = z.number().int().min(min);
  return z.preprocess((v) => (typeof v === 'string' && /^\s*-?\d+\s*$/.test(v) ? Number(v) : v), max === undefined ? n : n.max(max));
}

/** true/false; the strings "true" and "false" (e.g. from `${FLAG}`) are accepted too. */
export const bool = z.preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean());

function expectedString(what: string, extra?: (input: unknown) => string) {
  return (iss: { input?: unknown }) =>
    iss.input === undefined ? undefined : `expected ${what}, got ${describeValue(iss.input)}${extra ? extra(iss.input) : ''}`;
}

/** A duration (`30s`, `15m`, `1h`, `7d`, `1h30m`) parsed to milliseconds. */
export const duration = z
  .string({ error: expectedString('a duration such as 30s, 15m, 1h or 7d', (v) => (typeof v === 'number' ? ' (add a unit)' : '')) })
  .transform((s, ctx) => {
    try {
      return parseDuration(s);
    } catch (err) {
      ctx.issues.push({ code: 'custom', message: (err as Error).message, input: s });
      return z.NEVER;
    }
  });

/** A percentage (`10%`) parsed to a fraction (0.1). */
export const percent = z.string({ error: expectedString('a percentage such as 10%') }).transform((s, ctx) => {
  try {
    return parsePercent(s);
  } catch (err) {
    ctx.issues.push({ code: 'custom', message: (err as Error).message, input: s });
    return z.NEVER;
  }
});

/** A cron expression, @macro or event trigger (see schedule.ts); kept as written. */
export const schedule = z.string({ error: expectedString('a schedule such as "0 2 * * *"') }).superRefine((s, ctx) => {
  const problem = scheduleProblem(s);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});

/** A list of non-empty strings. */
export const textList = z.array(text);

/** Health check: an HTTP URL that must answer `expect`, or a command that must exit 0. */
export const health = z.union([
  strict({
    url: z.string().regex(/^https?:\/\//i, 'expected an http:// or https:// URL'),
    expect: int(100, 599).default(200),
    timeout: duration.default(30_000),
  }),
  strict({ command: text, timeout: duration.default(30_000) }),
]);
export type HealthCheck = z.output<typeof health>;

/** A restic `--keep-within` span: 7d, 2y5m7d3h (y years, m months, d days, h hours). */
const keepSpan = z
  .string()
  .regex(/^(\d+[ymdh])+$/, 'expected a restic-style span such as 7d or 2y5m7d3h (y years, m months, d days, h hours)');

/** A keep count: ≥ 0, or -1 for unlimited (as restic). */
const keepCount = int(-1).optional();

/** restic-style keep policy (`forget --keep-*`), shared by every source. */
const keepPolicy = {
  keep_last: keepCount,
  keep_hourly: keepCount,
  keep_daily: keepCount,
  keep_weekly: keepCount,
  keep_monthly: keepCount,
  keep_yearly: keepCount,
  keep_within: keepSpan.optional(),
  keep_within_hourly: keepSpan.optional(),
  keep_within_daily: keepSpan.optional(),
  keep_within_weekly: keepSpan.optional(),
  keep_within_monthly: keepSpan.optional(),
  keep_within_yearly: keepSpan.optional(),
  keep_tag: z.array(z.string()).optional(),
};

/** Retention for files sources: the restic `forget --keep-*` policy. */
export const filesRetention = strict(keepPolicy);

/** Retention for database sources: the keep policy, or pgBackRest-style counts of full and differential backups. */
export const databaseRetention = strict({ ...keepPolicy, full: int(1).optional(), diff: int(1).optional() });
export type Retention = z.output<typeof databaseRetention>;
