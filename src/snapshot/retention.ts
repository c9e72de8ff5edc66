/**
 * Snapshot retention for `safepoint forget --keep-*`, with the semantics of restic's
 * `ApplyPolicy` (restic ≥ 0.17, including its "keep the oldest snapshot" rule):
 *
 * - Snapshots are sorted newest first (stable: equal times keep their input order).
 * - Count rules (`last`, `hourly`, `daily`, `weekly`, `monthly`, `yearly`): walking newest to oldest,
 *   a snapshot is kept when its bucket key (hour / day / ISO week / month / year in the chosen time
 *   zone; for `last` every snapshot is its own bucket) differs from the key last kept by that rule,
 *   until the rule's count is used up. `-1` means unlimited; `0`/absent means the rule is off.
 *   The oldest snapshot is also kept by every rule that still has counts left
 *   (reason "oldest daily snapshot" when it shares the bucket of a newer kept one).
 * - `within`: keeps snapshots strictly newer than (newest snapshot time − duration). The newest
 *   snapshot is the newest one not in the future of `options.clock` (restic does the same), so
 *   the window is relative to the last backup, not to now. Years, months and days are calendar
 *   arithmetic in the chosen time zone (normalised like Go's `AddDate`: Mar 31 − 1m = Mar 3), hours
 *   are then subtracted as absolute time.
 * - `withinHourly` … `withinYearly`: like the count rules with unlimited count, restricted to the
 *   `within` window of that rule.
 * - `tags`: each entry is a comma-joined set (`"db,nightly"`); a snapshot having all tags of any
 *   entry is kept. An empty tag (`""`) matches snapshots without tags.
 * - Every kept snapshot lists its reasons, in restic's order and wording: "has tags [a, b]",
 *   "within 2d", "last snapshot", "daily snapshot", "oldest yearly snapshot", "daily within 1m".
 * - An empty policy (see {@link isEmptyPolicy}) keeps everything with reason "policy is empty";
 *   callers must refuse to forget without a policy.
 */
import { systemClock, type Clock } from '../util/clock.js';

/** A restic `--keep-within` duration ("1y2m3d4h"); applied by calendar arithmetic, see above. */
export interface CalendarDuration { readonly years: number; readonly months: number; readonly days: number; readonly hours: number }

export interface RetentionPolicy {
  readonly last?: number; readonly hourly?: number; readonly daily?: number;
  readonly weekly?: number; readonly monthly?: number; readonly yearly?: number;
  readonly within?: CalendarDuration; readonly withinHourly?: CalendarDuration; readonly withinDaily?: CalendarDuration;
  readonly withinWeekly?: CalendarDuration; readonly withinMonthly?: CalendarDuration; readonly withinYearly?: CalendarDuration;
  /** Each entry is one comma-joined tag set; a snapshot with all tags of any entry is kept. */
  readonly tags?: readonly string[];
}
export interface RetentionItem { readonly id: string; readonly time: Date; readonly tags: readonly string[] }
/** `keep` and `remove` are both ordered newest first. */
export interface RetentionDecision<T extends RetentionItem> { readonly keep: readonly { item: T; reasons: string[] }[]; readonly remove: readonly T[] }
export interface RetentionOptions {
  /** Time zone for bucket keys and calendar arithmetic; default 'UTC'. */
  readonly timeZone?: 'UTC' | 'local';
  /** Snapshots not before `clock.now()` are never the reference for `within*` (as in restic); default system clock. */
  readonly clock?: Clock;
}

type Bucket = 'hourly' | 'daily' | 'weekly' | 'monthly' | 'yearly';
type Parts = { y: number; mo: number; d: number; h: number };
const COUNT_RULES = ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const;
const WITHIN_RULES = [['withinHourly', 'hourly'], ['withinDaily', 'daily'], ['withinWeekly', 'weekly'], ['withinMonthly', 'monthly'], ['withinYearly', 'yearly']] as const;
const DURATIONS = ['within', ...WITHIN_RULES.map(([field]) => field)] as const;
const DAY = 86_400_000;

const utcDays = (y: number, mo: number, d: number): number => new Date(0).setUTCFullYear(y, mo - 1, d) / DAY;
/** ISO 8601 week as YYYYWW: the week belongs to the year holding its Thursday. */
function isoWeek(p: Parts): number {
  const day = utcDays(p.y, p.mo, p.d);
  const thursday = day - (((day + 3) % 7) + 7) % 7 + 3; // 1970-01-01 was a Thursday
  const year = new Date(thursday * DAY).getUTCFullYear();
  return year * 100 + Math.floor((thursday - utcDays(year, 1, 1)) / 7) + 1;
}
const KEYS: Record<Bucket, (p: Parts) => number> = {
  hourly: (p) => p.y * 1_000_000 + p.mo * 10_000 + p.d * 100 + p.h,
  daily: (p) => p.y * 10_000 + p.mo * 100 + p.d,
  weekly: isoWeek,
  monthly: (p) => p.y * 100 + p.mo,
  yearly: (p) => p.y,
};

function parts(t: Date, utc: boolean): Parts {
  return utc
    ? { y: t.getUTCFullYear(), mo: t.getUTCMonth() + 1, d: t.getUTCDate(), h: t.getUTCHours() }
    : { y: t.getFullYear(), mo: t.getMonth() + 1, d: t.getDate(), h: t.getHours() };
}
function isZero(d: CalendarDuration | undefined): boolean {
  return d === undefined || (d.years === 0 && d.months === 0 && d.days === 0 && d.hours === 0);
}
function formatDuration(d: CalendarDuration): string {
  return [[d.years, 'y'], [d.months, 'm'], [d.days, 'd'], [d.hours, 'h']].filter(([n]) => n !== 0).map(([n, u]) => `${n}${u}`).join('');
}
/** `ref` minus `d`: calendar years/months/days in the zone (Go `AddDate`), then absolute hours. */
function pastTime(ref: Date, d: CalendarDuration, utc: boolean): number {
  const t = new Date(ref);
  if (utc) t.setUTCFullYear(t.getUTCFullYear() - d.years, t.getUTCMonth() - d.months, t.getUTCDate() - d.days);
  else t.setFullYear(t.getFullYear() - d.years, t.getMonth() - d.months, t.getDate() - d.days);
  return t.getTime() - d.hours * 3_600_000;
}

export function isEmptyPolicy(p: RetentionPolicy): boolean {
  return COUNT_RULES.every((f) => (p[f] ?? 0) === 0) && DURATIONS.every((f) => isZero(p[f])) && (p.tags ?? []).length === 0;
}

export function applyRetention<T extends RetentionItem>(items: readonly T[], policy: RetentionPolicy, options: RetentionOptions = {}): RetentionDecision<T> {
  for (const f of COUNT_RULES) {
    const n = policy[f];
    if (n !== undefined && !(Number.isInteger(n) && n >= -1)) throw new RangeError(`retention: keep ${f} must be an integer ≥ -1 (-1 = unlimited), got ${n}`);
  }
  for (const f of DURATIONS) {
    const d = policy[f];
    if (d && ![d.years, d.months, d.days, d.hours].every((n) => Number.isInteger(n) && n >= 0)) throw new RangeError(`retention: ${f} must be a non-negative duration`);
  }
  const bad = items.find((i) => Number.isNaN(i.time.getTime()));
  if (bad) throw new RangeError(`retention: snapshot ${bad.id} has an invalid time`);
  const list = [...items].sort((a, b) => b.time.getTime() - a.time.getTime());
  if (isEmptyPolicy(policy)) return { keep: list.map((item) => ({ item, reasons: ['policy is empty'] })), remove: [] };

  const utc = (options.timeZone ?? 'UTC') === 'UTC';
  const now = (options.clock ?? systemClock).now().getTime();
  const latest = list.find((i) => i.time.getTime() < now)?.time;
  const cutoff = (d: CalendarDuration): number => (latest === undefined ? -Infinity : pastTime(latest, d, utc));
  const tagSets = (policy.tags ?? []).map((entry) => entry.split(',').map((t) => t.trim()));
  const counts = COUNT_RULES.filter((f) => (policy[f] ?? 0) !== 0)
    .map((f) => ({ key: f === 'last' ? null : KEYS[f], left: policy[f] ?? 0, last: undefined as number | undefined, reason: `${f} snapshot` }));
  const withins = WITHIN_RULES.flatMap(([f, bucket]) => {
    const d = policy[f];
    return d === undefined || isZero(d) ? [] : [{ key: KEYS[bucket], from: cutoff(d), last: undefined as number | undefined, reason: `${bucket} within ${formatDuration(d)}` }];
  });
  const within = policy.within !== undefined && !isZero(policy.within) ? { from: cutoff(policy.within), reason: `within ${formatDuration(policy.within)}` } : undefined;

  const keep: { item: T; reasons: string[] }[] = [];
  const remove: T[] = [];
  list.forEach((item, nr) => {
    const reasons: string[] = [];
    const p = parts(item.time, utc);
    const oldest = nr === list.length - 1;
    for (const set of tagSets) {
      if (set.every((tag) => (tag === '' && item.tags.length === 0) || item.tags.includes(tag))) reasons.push(`has tags [${set.join(', ')}]`);
    }
    if (within && item.time.getTime() > within.from) reasons.push(within.reason);
    for (const rule of [...counts, ...withins]) {
      if ('left' in rule ? rule.left === 0 : item.time.getTime() <= rule.from) continue;
      const key = rule.key === null ? nr : rule.key(p);
      if (key === rule.last && !oldest) continue;
      reasons.push(key === rule.last ? `oldest ${rule.reason}` : rule.reason);
      rule.last = key;
      if ('left' in rule && rule.left > 0) rule.left--;
    }
    if (reasons.length > 0) keep.push({ item, reasons });
    else remove.push(item);
  });
  return { keep, remove };
}

/**
 * Parses restic's `--keep-within` syntax: numbers with units y (years), m (months — not minutes),
 * d (days), h (hours), in any order, e.g. "1y2m3d4h", "2d", "36h". As in restic, surrounding
 * whitespace is ignored, a repeated unit overrides the earlier one, and "" is the zero duration
 * (which disables the rule). Negative or fractional numbers and other units are rejected.
 */
export function parseKeepWithin(text: string): CalendarDuration {
  const d = { years: 0, months: 0, days: 0, hours: 0 };
  const field = { y: 'years', m: 'months', d: 'days', h: 'hours' } as const;
  let rest = text.trim();
  while (rest !== '') {
    const m = /^(\d+)([ymdh])/.exec(rest);
    if (!m) throw new Error(`invalid keep-within duration "${text}": expected numbers with units y, m (months), d, h, e.g. "1y6m" or "2d12h"`);
    d[field[m[2] as keyof typeof field]] = Number(m[1]);
    rest = rest.slice(m[0].length);
  }
  return d;
}

/**
 * Maps a config `retention:` block (`keep_last`, `keep_hourly`, `keep_daily`, `keep_weekly`,
 * `keep_monthly`, `keep_yearly`: counts; `keep_within`, `keep_within_hourly` … `keep_within_yearly`:
 * restic durations; `keep_tag`: a tag set or a list of them) to a policy. Unknown keys throw.
 */
export function policyFromConfig(obj: Record<string, unknown>): RetentionPolicy {
  const policy: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(obj)) {
    const field = key.startsWith('keep_') ? key.slice(5).replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase()) : '';
    const wrongType = (): Error => new Error(`retention key "${key}" has a value of the wrong type`);
    if ((COUNT_RULES as readonly string[]).includes(field)) {
      if (typeof value !== 'number') throw wrongType();
      policy[field] = value;
    } else if ((DURATIONS as readonly string[]).includes(field)) {
      if (typeof value !== 'string') throw wrongType();
      policy[field] = parseKeepWithin(value);
    } else if (field === 'tag') {
      if (typeof value === 'string') policy.tags = [value];
      else if (Array.isArray(value) && value.every((v) => typeof v === 'string')) policy.tags = value;
      else throw wrongType();
    } else {
      throw new Error(`unknown retention key "${key}" (expected keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly, keep_within, keep_within_hourly … keep_within_yearly or keep_tag)`);
    }
  }
  return policy as RetentionPolicy;
}
