/**
 * The four charts of a source (backup size, backup duration, RPO exposure, drill restore time) as chart specs, each
 * with the table of the same numbers for readers who cannot see the chart. Texts are plain; the renderer escapes them.
 */
import type { ReportData, SourceReport } from './model.js';
import { byteUnit, secondUnit } from './scale.js';
import type { ChartPoint, ChartSpec } from './svg-chart.js';
import { against, age, bytes, when } from './words.js';

export interface SourceChart {
  readonly spec: ChartSpec;
  /** The chart's numbers as a table: header, then one row per point. */
  readonly table: { readonly head: readonly string[]; readonly rows: readonly (readonly string[])[] };
}

export function sourceCharts(s: SourceReport, period: ReportData['period'], index: number): SourceChart[] {
  const since = Date.parse(period.since);
  const until = Date.parse(period.until);
  /**
   * The whole period, with a margin on both sides: every chart of every source on one time axis, and a stretch
   * without backups or drills shows as the gap it is, not cut off.
   */
  const pad = Math.max(60_000, (until - since) * 0.02);
  const range = (): { from: number; to: number } => ({ from: since - pad, to: until + pad });
  const id = (what: string): string => `s${index}-${what}`;
  const b = s.series.backups;
  const bx = b.map((x) => Date.parse(x.time));
  const span = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'} of ${s.name} between ${when(period.since)} and ${when(period.until)}`;

  const maxRead = Math.max(0, ...b.map((x) => x.bytes_processed));
  const size: SourceChart = {
    spec: {
      id: id('size'),
      title: `Backup size of ${s.name}`,
      desc: `Bytes read (line) and bytes added to the repository (bars) by the ${span(b.length, 'backup')}; the largest read ${bytes(maxRead)}.`,
      ...range(),
      format: bytes,
      unit: byteUnit(maxRead),
      series: [
        { name: 'read', kind: 'line', points: b.map((x, i): ChartPoint => ({ x: bx[i]!, y: x.bytes_processed, label: `${when(x.time)}: ${bytes(x.bytes_processed)} read${x.complete ? '' : ' (incomplete)'}`, bad: !x.complete })) },
        { name: 'added', kind: 'bar', points: b.map((x, i): ChartPoint => ({ x: bx[i]!, y: x.data_added, label: `${when(x.time)}: ${bytes(x.data_added)} added`, bad: !x.complete })) },
      ],
    },
    table: { head: ['Time', 'Read', 'Added', 'Complete'], rows: b.map((x) => [when(x.time), bytes(x.bytes_processed), bytes(x.data_added), x.complete ? 'yes' : 'no']) },
  };

  const maxDuration = Math.max(0, ...b.map((x) => x.duration_seconds));
  const duration: SourceChart = {
    spec: {
      id: id('duration'),
      title: `Backup duration of ${s.name}`,
      desc: `How long each of the ${span(b.length, 'backup')} took; the longest ${age(maxDuration)}.`,
      ...range(),
      format: age,
      unit: secondUnit(maxDuration),
      series: [{ name: 'duration', kind: 'line', points: b.map((x, i): ChartPoint => ({ x: bx[i]!, y: x.duration_seconds, label: `${when(x.time)}: ${age(x.duration_seconds)}`, bad: !x.complete })) }],
    },
    table: { head: ['Time', 'Duration'], rows: b.map((x) => [when(x.time), age(x.duration_seconds)]) },
  };

  const peaks = s.series.rpo_exposure;
  const rpo = s.objectives.rpo_seconds;
  const ex = range();
  // the sawtooth: from each protection the exposure rises to the peak, then drops to 0 at the next one
  const saw: ChartPoint[] = peaks.flatMap((p) => {
    const at = Date.parse(p.time);
    const start = Math.max(ex.from, at - p.exposure_seconds * 1000);
    const peak: ChartPoint = { x: at, y: p.exposure_seconds, label: `${when(p.time)}: ${age(p.exposure_seconds)}${p.current ? ' (now)' : ''}${p.over_rpo ? ', over the RPO' : ''}`, bad: p.over_rpo };
    return [{ x: start, y: p.exposure_seconds - (at - start) / 1000 }, peak, ...(p.current ? [] : [{ x: at, y: 0 }])];
  });
  const worst = s.rpo_compliance.worst_exposure_seconds;
  const exposure: SourceChart = {
    spec: {
      id: id('rpo'),
      title: `RPO exposure of ${s.name}`,
      desc: `What a failure would have lost at each moment (the age of the newest backup), ${peaks.length} peaks${worst === null ? '' : `, the worst ${age(worst)}`}, against ${rpo === null ? 'no RPO' : `the RPO of ${age(rpo)}`}.`,
      ...ex,
      format: age,
      unit: secondUnit(Math.max(worst ?? 0, rpo ?? 0)),
      series: [{ name: 'exposure', kind: 'line', points: saw }],
      ...(rpo === null ? {} : { objective: { value: rpo, label: `RPO ${age(rpo)}` } }),
    },
    table: { head: ['Time', 'Exposure / RPO', 'Over the RPO'], rows: peaks.map((p) => [`${when(p.time)}${p.current ? ' (now)' : ''}`, against(p.exposure_seconds, rpo), p.over_rpo ? 'yes' : 'no']) },
  };

  const drills = s.series.drill_rto;
  const rto = s.objectives.rto_seconds;
  const maxRto = Math.max(0, ...drills.map((d) => d.rto_seconds ?? 0));
  const rtoChart: SourceChart = {
    spec: {
      id: id('rto'),
      title: `Drill restore time of ${s.name}`,
      desc: `Measured restore time of the ${span(drills.length, 'drill')} (failed ones in red) against ${rto === null ? 'no RTO' : `the RTO of ${age(rto)}`}.`,
      ...range(),
      format: age,
      unit: secondUnit(Math.max(maxRto, rto ?? 0)),
      series: [{ name: 'restore time', kind: 'bar', points: drills.map((d): ChartPoint => ({ x: Date.parse(d.time), y: d.rto_seconds ?? 0, label: `${when(d.time)}: ${d.rto_seconds === null ? 'not measured' : age(d.rto_seconds)}${d.ok ? '' : ', failed'}`, bad: !d.ok })) }],
      ...(rto === null ? {} : { objective: { value: rto, label: `RTO ${age(rto)}` } }),
    },
    table: { head: ['Time', 'Restore time / RTO', 'Result'], rows: drills.map((d) => [when(d.time), against(d.rto_seconds, d.rto_objective_seconds), d.ok ? 'passed' : 'failed']) },
  };

  return [size, duration, exposure, rtoChart];
}
