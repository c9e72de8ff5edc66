import { UsageError } from '../util/errors.js';

/** Milliseconds per duration unit, in the order they are listed in messages. */
const UNITS: ReadonlyMap<string, number> = new Map([
  ['ms', 1],
  ['s', 1000],
  ['m', 60_000],
  ['h', 3_600_000],
  ['d', 86_400_000],
  ['w', 604_800_000],
]);

const EXAMPLES = 'e.g. 30s, 15m, 1h, 7d or 1h30m';
const UNIT_LIST = [...UNITS.keys()].join(', ');
const PART = /(\d+(?:\.\d+)?)([a-zA-Z]*)/y;

/**
 * Parses a duration such as `30s`, `15m`, `1h`, `7d`, `2w`, `500ms` or a combination (`1h30m`, `1d12h`)
 * into milliseconds. `0` alone is accepted. Units: ms, s, m (minutes), h, d, w.
 * @throws UsageError naming the text and what is wrong with it.
 */
export function parseDuration(text: string): number {
  const s = text.trim();
  if (s === '') throw new UsageError(`empty duration (expected ${EXAMPLES})`);
  if (s === '0') return 0;
  if (s.startsWith('-')) throw new UsageError(`invalid duration "${text}": must not be negative`);
  let total = 0;
  let at = 0;
  while (at < s.length) {
    PART.lastIndex = at;
    const m = PART.exec(s);
    if (m === null) throw new UsageError(`invalid duration "${text}" (expected ${EXAMPLES})`);
    const [whole, digits = '', unit = ''] = m;
    if (unit === '') throw new UsageError(`invalid duration "${text}": "${digits}" has no unit (units: ${UNIT_LIST}; ${EXAMPLES})`);
    const factor = UNITS.get(unit);
    if (factor === undefined) throw new UsageError(`invalid duration "${text}": unknown unit "${unit}" (units: ${UNIT_LIST})`);
    total += Number(digits) * factor;
    at += whole.length;
  }
  return Math.round(total);
}

/** Formats milliseconds the way parseDuration reads them: 5400000 → `1h30m`, 0 → `0`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0';
  let rest = Math.round(ms);
  let out = '';
  for (const unit of ['w', 'd', 'h', 'm', 's', 'ms']) {
    const size = UNITS.get(unit) ?? 1;
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return out;
}

/**
 * Parses a percentage such as `10%` or `2.5%` into a fraction (0.1, 0.025). Range 0%–100%.
 * @throws UsageError naming the text.
 */
export function parsePercent(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(text);
  if (m === null) throw new UsageError(`invalid percentage "${text}" (expected e.g. 10% or 2.5%)`);
  const value = Number(m[1]);
  if (value > 100) throw new UsageError(`invalid percentage "${text}": must be at most 100%`);
  return value / 100;
}
