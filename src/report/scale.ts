/** Axis ticks for the charts: round values on the value axis, round times on the time axis. */

/**
 * Ticks from 0 to at least `max`, about `count` of them, at steps of 1, 2 or 5 × 10^k of `unit` (1024^n for bytes,
 * 60 or 3600 for seconds, so that labels come out round).
 */
export function valueTicks(max: number, count = 5, unit = 1): number[] {
  if (!(max > 0) || !Number.isFinite(max)) return [0, unit];
  const raw = max / unit / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].find((m) => m * mag >= raw) ?? 10) * mag * unit;
  const ticks: number[] = [];
  for (let v = 0; v < max + step; v += step) ticks.push(Math.round(v * 1e6) / 1e6);
  return ticks;
}

/** The unit byte ticks are counted in: the largest power of 1024 not above the maximum. */
export function byteUnit(max: number): number {
  let unit = 1;
  while (unit * 1024 <= max) unit *= 1024;
  return unit;
}

/** The unit second ticks are counted in: hours, minutes or seconds. */
export function secondUnit(max: number): number {
  return max >= 7200 ? 3600 : max >= 120 ? 60 : 1;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const TIME_STEPS = [MINUTE, 5 * MINUTE, 15 * MINUTE, HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY, 14 * DAY, 30 * DAY, 91 * DAY, 365 * DAY];

/** Round UTC times (ms) inside [from, to], at most `max` of them, labelled `11-29` or `11-29 04:00`. */
export function timeTicks(from: number, to: number, max = 6): { at: number; label: string }[] {
  const span = Math.max(to - from, 1);
  const step = TIME_STEPS.find((s) => span / s <= max) ?? span / max;
  const first = Math.ceil(from / step) * step;
  const ticks: { at: number; label: string }[] = [];
  for (let at = first; at <= to; at += step) {
    const iso = new Date(at).toISOString();
    ticks.push({ at, label: step >= DAY ? iso.slice(5, 10) : span <= DAY ? iso.slice(11, 16) : `${iso.slice(5, 10)} ${iso.slice(11, 16)}` });
  }
  return ticks;
}
