import { test } from 'node:test';
import assert from 'node:assert/strict';
import { byteUnit, secondUnit, timeTicks, valueTicks } from './scale.js';
import { svgChart, type ChartSpec } from './svg-chart.js';

const T = Date.parse('2026-11-29T00:00:00Z');
const HOUR = 3_600_000;

test('scale: round value ticks from 0 past the maximum, in the given unit', () => {
  assert.deepEqual(valueTicks(10), [0, 2, 4, 6, 8, 10]);
  assert.deepEqual(valueTicks(11), [0, 5, 10, 15]);
  assert.deepEqual(valueTicks(0), [0, 1]);
  assert.deepEqual(valueTicks(5 * 1024 * 1024, 5, byteUnit(5 * 1024 * 1024)), [0, 1, 2, 3, 4, 5].map((m) => m * 1024 * 1024));
  assert.deepEqual(valueTicks(5400, 5, secondUnit(5400)), [0, 20, 40, 60, 80, 100].map((m) => m * 60));
  assert.equal(byteUnit(1000), 1);
  assert.equal(byteUnit(3 * 1024 ** 3), 1024 ** 3);
  assert.equal(secondUnit(30), 1);
  assert.equal(secondUnit(8000), 3600);
});

test('scale: time ticks at round UTC times, labelled by day or by hour', () => {
  assert.deepEqual(timeTicks(T, T + 6 * 86_400_000).map((t) => t.label), ['11-29', '11-30', '12-01', '12-02', '12-03', '12-04', '12-05']);
  assert.deepEqual(timeTicks(T + 10 * 60_000, T + 5 * HOUR).map((t) => t.label), ['01:00', '02:00', '03:00', '04:00', '05:00']);
  assert.ok(timeTicks(T, T + 30 * 86_400_000).length <= 6);
  assert.ok(timeTicks(T, T + 1).length <= 6);
});

const spec = (o: Partial<ChartSpec> = {}): ChartSpec => ({
  id: 'c1',
  title: 'Backup size of <app>',
  desc: 'Bytes read & added',
  from: T,
  to: T + 4 * HOUR,
  format: (v) => `${v} s`,
  series: [
    { name: 'read', kind: 'line', points: [{ x: T + HOUR, y: 10, label: 'one' }, { x: T + 2 * HOUR, y: 20, label: 'two' }] },
    { name: 'added', kind: 'bar', points: [{ x: T + HOUR, y: 5 }, { x: T + 2 * HOUR, y: 7, bad: true }] },
  ],
  ...o,
});

test('svgChart: axes with labels, a polyline with markers, bars (bad ones red), a legend, escaped texts', () => {
  const svg = svgChart(spec({ objective: { value: 15, label: 'RTO <15s>' } }));
  assert.match(svg, /^<svg class="chart" viewBox="0 0 640 260" role="img" aria-labelledby="c1-title c1-desc"/);
  assert.doesNotMatch(svg, /xmlns|http/);
  assert.match(svg, /<title id="c1-title">Backup size of &lt;app&gt;<\/title>/);
  assert.match(svg, /<desc id="c1-desc">Bytes read &amp; added<\/desc>/);
  assert.equal((svg.match(/<polyline /g) ?? []).length, 1);
  assert.equal((svg.match(/<circle /g) ?? []).length, 2);
  assert.equal((svg.match(/<rect x="[\d.]+" y="[\d.]+" width="[\d.]+" height="[\d.]+" fill="#dc2626">/g) ?? []).length, 1);
  assert.match(svg, />0 s<\/text>/);
  assert.match(svg, />20 s<\/text>/, 'the axis reaches the largest value');
  assert.doesNotMatch(svg, />25 s<\/text>/);
  assert.match(svg, />02:00<\/text>/);
  assert.match(svg, /stroke-dasharray="6 4"/);
  assert.match(svg, />RTO &lt;15s&gt;<\/text>/);
  assert.match(svg, />read<\/text>[\s\S]*>added<\/text>/);
  // the objective is drawn at its value: 15 of a 0..20 axis
  const y = (v: number): number => 28 + 198 - (v / 20) * 198;
  assert.match(svg, new RegExp(`<line x1="72" x2="624" y1="${Math.round(y(15) * 10) / 10}" y2="${Math.round(y(15) * 10) / 10}" stroke="#b45309"`));
});

test('svgChart: without data it says so, and ids are made safe', () => {
  const svg = svgChart(spec({ id: 'a b"<', series: [{ name: 'x', kind: 'line', points: [] }] }));
  assert.match(svg, /no data in the period/);
  assert.match(svg, /aria-labelledby="a-b---title a-b---desc"/);
  const one = svgChart(spec({ from: T, to: T, series: [{ name: 'x', kind: 'line', points: [{ x: T, y: 3 }] }] }));
  assert.equal((one.match(/<circle /g) ?? []).length, 1, 'a single point still shows');
  assert.doesNotMatch(one, /NaN|Infinity/);
});
