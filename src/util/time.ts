/** Times typed by users: ISO 8601, UTC unless a zone is given (`2026-11-29T04:12:00`, `2026-11-29 05:12+01:00`). */
import { UsageError } from './errors.js';

/** Parses `text` given with `flag` (for the message); throws a one-line UsageError naming the flag and an example. */
export function parseTime(text: string, flag: string): Date {
  const t = text.trim();
  const ms = t === '' ? NaN : Date.parse(/[zZ]|[+-]\d\d(:?\d\d)?$/.test(t) ? t : `${t.replace(' ', 'T')}Z`);
  if (Number.isNaN(ms)) throw new UsageError(`${flag} ${JSON.stringify(text)} is not a time: write e.g. 2026-11-29T04:12:00Z or "2026-11-29 05:12:00+01:00" (UTC when no zone is given)`);
  return new Date(ms);
}
