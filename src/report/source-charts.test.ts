import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildReport } from './build-report.js';
import { sourceCharts } from './source-charts.js';
import { NOW, config, entry, snap, source, states } from './testing.js';

test('every chart of a source spans the whole period: a stretch without backups shows as a gap, not cut off', () => {
  const since = new Date(NOW.getTime() - 30 * 86_400_000);
  // backups and a drill only in the last two days of a 30-day period
  const data = buildReport(config([source('app', { rpo: 86_400_000, rto: 600_000 })]), states({ snapshots: [snap('app', 2 * 24 * 60), snap('app', 60)], journal: [entry('drill', 'app', 30, { figures: { rto_seconds: 40 } })] }), NOW, since);
  const charts = sourceCharts(data.sources[0]!, data.period, 0);
  assert.equal(charts.length, 4);
  for (const c of charts) {
    assert.ok(c.spec.from <= since.getTime(), `${c.spec.title} starts at the period's start`);
    assert.ok(c.spec.to >= NOW.getTime(), `${c.spec.title} ends at the period's end`);
    assert.ok(c.spec.to - c.spec.from < 32 * 86_400_000, `${c.spec.title}: only a small margin`);
  }
});
