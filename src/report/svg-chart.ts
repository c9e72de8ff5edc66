/**
 * Small time charts drawn as inline SVG (no script, no font, no external file): a time axis, a value axis with
 * gridlines, line and bar series, and an optional dashed objective line. Every text is escaped; the chart carries
 * a <title> and <desc> for screen readers.
 */
import { escapeHtml } from './escape-html.js';
import { timeTicks, valueTicks } from './scale.js';

export interface ChartPoint {
  /** Time, ms since the epoch. */
  readonly x: number;
  readonly y: number;
  /** Shown as a tooltip on the point (lines get a marker only where a label is given). */
  readonly label?: string;
  /** Drawn in the alarm colour (a failed drill, a peak over the objective). */
  readonly bad?: boolean;
}

export interface ChartSeries {
  readonly name: string;
  readonly kind: 'line' | 'bar';
  readonly points: readonly ChartPoint[];
}

export interface ChartSpec {
  /** Unique in the page: the ids of the title and description derive from it. */
  readonly id: string;
  readonly title: string;
  readonly desc: string;
  readonly series: readonly ChartSeries[];
  /** The time range shown (ms). */
  readonly from: number;
  readonly to: number;
  /** Labels of the value axis. */
  readonly format: (v: number) => string;
  /** Ticks are round multiples of this (1024^n for bytes, 60 or 3600 for seconds). */
  readonly unit?: number;
  readonly objective?: { readonly value: number; readonly label: string };
}

export const CHART_WIDTH = 640;
export const CHART_HEIGHT = 260;
const M = { left: 72, right: 16, top: 28, bottom: 34 };
const PALETTE = ['#2563eb', '#0d9488', '#7c3aed'];
const BAD = '#dc2626';
const OBJECTIVE = '#b45309';
const INK = '#374151';
const GRID = '#e5e7eb';

const f1 = (n: number): string => String(Math.round(n * 10) / 10);

export function svgChart(spec: ChartSpec): string {
  const id = spec.id.replace(/[^A-Za-z0-9_-]/g, '-');
  const w = CHART_WIDTH - M.left - M.right;
  const h = CHART_HEIGHT - M.top - M.bottom;
  const from = spec.to > spec.from ? spec.from : spec.from - 60_000;
  const to = spec.to > spec.from ? spec.to : spec.to + 60_000;
  const points = spec.series.flatMap((s) => s.points);
  const top = Math.max(0, ...points.map((p) => p.y), (spec.objective?.value ?? 0) * 1.15);
  const yTicks = valueTicks(top, 5, spec.unit ?? 1);
  const yMax = yTicks.at(-1) ?? 1;
  const X = (t: number): number => M.left + ((t - from) / (to - from)) * w;
  const Y = (v: number): number => M.top + h - (v / yMax) * h;

  const out: string[] = [
    `<svg class="chart" viewBox="0 0 ${CHART_WIDTH} ${CHART_HEIGHT}" role="img" aria-labelledby="${id}-title ${id}-desc" font-family="system-ui, sans-serif" font-size="12">`,
    `<title id="${id}-title">${escapeHtml(spec.title)}</title>`,
    `<desc id="${id}-desc">${escapeHtml(spec.desc)}</desc>`,
  ];
  // value axis: gridlines and labels
  for (const v of yTicks) {
    out.push(`<line x1="${M.left}" x2="${M.left + w}" y1="${f1(Y(v))}" y2="${f1(Y(v))}" stroke="${GRID}"/>`);
    out.push(`<text x="${M.left - 6}" y="${f1(Y(v) + 4)}" text-anchor="end" fill="${INK}">${escapeHtml(spec.format(v))}</text>`);
  }
  // time axis
  for (const t of timeTicks(from, to)) {
    out.push(`<line x1="${f1(X(t.at))}" x2="${f1(X(t.at))}" y1="${M.top + h}" y2="${M.top + h + 4}" stroke="${INK}"/>`);
    out.push(`<text x="${f1(X(t.at))}" y="${M.top + h + 16}" text-anchor="middle" fill="${INK}">${escapeHtml(t.label)}</text>`);
  }
  out.push(`<line x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${M.top + h}" stroke="${INK}"/>`);
  out.push(`<line x1="${M.left}" x2="${M.left + w}" y1="${M.top + h}" y2="${M.top + h}" stroke="${INK}"/>`);

  const bars = spec.series.filter((s) => s.kind === 'bar').reduce((n, s) => Math.max(n, s.points.length), 0);
  const barWidth = Math.max(2, Math.min(14, (w / Math.max(bars, 1)) * 0.6));
  spec.series.forEach((s, i) => {
    const colour = PALETTE[i % PALETTE.length]!;
    if (s.kind === 'bar') {
      for (const p of s.points) {
        // a value too small for the scale still shows as a 2-pixel bar: a drill of 0.2 s against an RTO of an hour happened
        const y = p.y > 0 ? Math.min(Y(p.y), M.top + h - 2) : Y(p.y);
        out.push(`<rect x="${f1(X(p.x) - barWidth / 2)}" y="${f1(y)}" width="${f1(barWidth)}" height="${f1(M.top + h - y)}" fill="${p.bad ? BAD : colour}">${tooltip(p)}</rect>`);
      }
      return;
    }
    if (s.points.length > 1) out.push(`<polyline fill="none" stroke="${colour}" stroke-width="2" stroke-linejoin="round" points="${s.points.map((p) => `${f1(X(p.x))},${f1(Y(p.y))}`).join(' ')}"/>`);
    for (const p of s.points) {
      if (p.label !== undefined || s.points.length === 1) out.push(`<circle cx="${f1(X(p.x))}" cy="${f1(Y(p.y))}" r="3" fill="${p.bad ? BAD : colour}">${tooltip(p)}</circle>`);
    }
  });

  if (spec.objective) {
    const y = f1(Y(spec.objective.value));
    out.push(`<line x1="${M.left}" x2="${M.left + w}" y1="${y}" y2="${y}" stroke="${OBJECTIVE}" stroke-width="1.5" stroke-dasharray="6 4"/>`);
    out.push(`<text x="${M.left + w - 4}" y="${f1(Number(y) - 5)}" text-anchor="end" fill="${OBJECTIVE}" stroke="#fff" stroke-width="3" paint-order="stroke">${escapeHtml(spec.objective.label)}</text>`);
  }
  if (points.length === 0) out.push(`<text x="${f1(M.left + w / 2)}" y="${f1(M.top + h / 2)}" text-anchor="middle" fill="${INK}">no data in the period</text>`);
  out.push(legend(spec));
  out.push('</svg>');
  return out.join('\n');
}

function tooltip(p: ChartPoint): string {
  return p.label === undefined ? '' : `<title>${escapeHtml(p.label)}</title>`;
}

/** One swatch and name per series, then the objective, along the top. */
function legend(spec: ChartSpec): string {
  const items = [
    ...spec.series.map((s, i) => ({ name: s.name, colour: PALETTE[i % PALETTE.length]!, dashed: false })),
    ...(spec.objective ? [{ name: spec.objective.label, colour: OBJECTIVE, dashed: true }] : []),
  ];
  let x = M.left;
  return items
    .map((it) => {
      const swatch = it.dashed
        ? `<line x1="${x}" x2="${x + 14}" y1="12" y2="12" stroke="${it.colour}" stroke-width="1.5" stroke-dasharray="4 3"/>`
        : `<rect x="${x}" y="7" width="14" height="10" fill="${it.colour}"/>`;
      const text = `<text x="${x + 18}" y="16" fill="${INK}">${escapeHtml(it.name)}</text>`;
      x += 18 + it.name.length * 6.8 + 16;
      return swatch + text;
    })
    .join('');
}
