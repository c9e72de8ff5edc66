import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sourceStatus } from '../status/status.js';
import { buildReport, LAST_BACKUPS } from './build-report.js';
import { exposurePeaks, protectionEnds, thinPeaks } from './exposure.js';
import { NOW, ago, config, entry, snap, source, states } from './testing.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const since = (ms: number): Date => new Date(NOW.getTime() - ms);

test('buildReport: versioned, the period and the verdicts of sourceStatus, counted in the summary', () => {
  const app = source('app', { rpo: HOUR, rto: 15 * 60_000 });
  const db = source('db', { rpo: HOUR, type: 'sqlite' });
  const snapshots = [snap('app', 20), snap('db', 300)];
  const journal = [entry('drill', 'app', 10, { figures: { rto_seconds: 12, rto_objective_seconds: 900 } }), entry('check', null, 5)];
  const d = buildReport(config([app, db]), states({ snapshots, journal }), NOW, since(30 * DAY));
  assert.equal(d.report_version, 1);
  assert.equal(d.project, 'shop');
  assert.deepEqual(d.period, { since: new Date(NOW.getTime() - 30 * DAY).toISOString(), until: NOW.toISOString() });
  assert.deepEqual(d.sources.map((s) => [s.name, s.verdict]), [['app', 'ok'], ['db', 'violated']]);
  const expected = sourceStatus({ source: db, repository: config([]).repositories.main ?? null, snapshots, journal, appendOnlyKey: false, now: NOW });
  assert.deepEqual(d.sources[1]!.reasons, expected.reasons);
  assert.deepEqual(d.sources[1]!.status, expected);
  assert.deepEqual({ ...d.summary }, { sources: 2, ok: 1, at_risk: 0, violated: 1, backups: 2, drills: 1, drills_failed: 0, failures: 0 });
  assert.deepEqual(d.sources[0]!.objectives, { rpo_seconds: 3600, rto_seconds: 900 });
  assert.equal(d.sources[0]!.immutability.state, 'none');
  // the JSON rendering is the structure itself
  assert.deepEqual(JSON.parse(JSON.stringify(d)), d);
});

test('buildReport: the last backups, newest first and at most LAST_BACKUPS, with their figures; continuous entries are not backups', () => {
  const snaps = Array.from({ length: LAST_BACKUPS + 3 }, (_, i) => snap('app', 600 - i * 10, { bytes: 1000 * (i + 1), added: i, seconds: i + 1 }));
  const wal = snap('app', 1, { tags: ['replica'] });
  const d = buildReport(config([source('app')]), states({ snapshots: [...snaps, wal] }), NOW, since(DAY));
  const s = d.sources[0]!;
  assert.equal(s.last_backups.length, LAST_BACKUPS);
  assert.equal(s.last_backups[0]!.snapshot_id, snaps.at(-1)!.id);
  assert.deepEqual({ ...s.last_backups[0]!, tags: [...s.last_backups[0]!.tags], paths: [...s.last_backups[0]!.paths] }, {
    snapshot_id: snaps.at(-1)!.id, time: snaps.at(-1)!.time, type: 'full', tags: [], paths: ['/srv/app'], bytes_processed: 13_000, data_added: 12, duration_seconds: 13, files: 3, complete: true,
  });
  assert.equal(s.series.backups.length, LAST_BACKUPS + 3);
  assert.ok(s.series.backups.every((b, i, all) => i === 0 || all[i - 1]!.time <= b.time), 'series oldest first');
});

test('buildReport: RPO exposure is the sawtooth of the gaps between protections, then the exposure now; compliance over the period', () => {
  const snapshots = [snap('app', 300, { seconds: 0 }), snap('app', 200, { seconds: 0 }), snap('app', 50, { seconds: 0 })];
  const d = buildReport(config([source('app', { rpo: HOUR })]), states({ snapshots }), NOW, since(DAY));
  const s = d.sources[0]!;
  assert.deepEqual(s.series.rpo_exposure.map((p) => [p.time, p.exposure_seconds, p.over_rpo, p.current]), [
    [ago(200), 6000, true, false],
    [ago(50), 9000, true, false],
    [NOW.toISOString(), 3000, false, true],
  ]);
  // over the RPO 40 minutes in the first gap and 90 in the second, out of the 300 since the first backup
  assert.deepEqual({ ...s.rpo_compliance }, { rpo_seconds: 3600, worst_exposure_seconds: 9000, breaches: 2, within_share: Math.round((1 - 130 / 300) * 10_000) / 10_000 });
  assert.equal(s.verdict, 'at risk', 'within the RPO now (83% of it), never drilled, never checked');
});

test('buildReport: --since cuts the series, drills, checks and failures, not the verdict', () => {
  const snapshots = [snap('app', 300, { seconds: 0 }), snap('app', 50, { seconds: 0 })];
  const journal = [entry('drill', 'app', 250, { ok: false, error: 'old failure' }), entry('check', null, 240), entry('drill', 'app', 40, { figures: { rto_seconds: 3 } }), entry('check', null, 30)];
  const all = buildReport(config([source('app', { rpo: HOUR, rto: HOUR })]), states({ snapshots, journal }), NOW, since(DAY)).sources[0]!;
  const recent = buildReport(config([source('app', { rpo: HOUR, rto: HOUR })]), states({ snapshots, journal }), NOW, since(100 * 60_000)).sources[0]!;
  assert.deepEqual([all.drills.length, all.checks.length, all.failures.length, all.series.backups.length], [2, 2, 1, 2]);
  assert.deepEqual([recent.drills.length, recent.checks.length, recent.failures.length, recent.series.backups.length], [1, 1, 0, 1]);
  assert.equal(recent.verdict, all.verdict);
  // the peak at the backup inside the period still measures the gap from the one before it
  assert.deepEqual(recent.series.rpo_exposure.map((p) => p.exposure_seconds), [15_000, 3000]);
  assert.equal(recent.drills[0]!.rto_objective_seconds, 3600, 'the objective of the config when the entry has none');
});

test('buildReport: failures and their causes — failed operations of the source and of its repository, incomplete backups, an unreadable repository', () => {
  const warnings = ['a: permission denied', 'b: permission denied', 'c: gone', 'd: gone'];
  const incomplete = snap('app', 30, { complete: false, warnings });
  const journal = [
    entry('drill', 'app', 20, { ok: false, error: '1 of 3 checks failed: sql: select 0: returned 0', inputs: { snapshot_id: 'f'.repeat(64) }, figures: { rto_seconds: 2.5, rto_objective_seconds: 60 } }),
    entry('check', null, 10, { ok: false, error: '2 problems in /r' }),
    entry('drill', 'other', 10, { ok: false }),
    entry('rollback-data', 'app', 5, { inputs: { to: ago(100) }, figures: { seconds: 4 } }),
  ];
  const d = buildReport(config([source('app', { rto: 60_000 })]), states({ snapshots: [snap('app', 60), incomplete], journal }), NOW, since(DAY));
  const s = d.sources[0]!;
  assert.deepEqual(s.failures.map((f) => [f.what, f.cause]), [
    ['check', '2 problems in /r'],
    ['drill', '1 of 3 checks failed: sql: select 0: returned 0'],
    ['incomplete backup', 'a: permission denied; b: permission denied; c: gone; and 1 more'],
  ]);
  assert.equal(s.failures[1]!.snapshot_id, 'f'.repeat(64));
  assert.deepEqual({ ...s.drills[0]! }, { time: ago(20), snapshot_id: 'f'.repeat(64), ok: false, rto_seconds: 2.5, rto_objective_seconds: 60, sampled_older: false, point: null, error: '1 of 3 checks failed: sql: select 0: returned 0' });
  assert.deepEqual(s.series.drill_rto, [{ time: ago(20), rto_seconds: 2.5, rto_objective_seconds: 60, ok: false }]);
  assert.deepEqual(s.recoveries.map((r) => [r.operation, r.target, r.seconds, r.ok]), [['rollback-data', ago(100), 4, true]]);
  assert.equal(s.last_backups.find((b) => !b.complete)?.snapshot_id, incomplete.id);
  assert.equal(d.summary.failures, 3);
  assert.equal(d.summary.drills_failed, 1);

  const broken = buildReport(config([source('app')]), states({ error: 'wrong password' }), NOW, since(DAY)).sources[0]!;
  assert.equal(broken.verdict, 'violated');
  assert.deepEqual(broken.reasons, ['repository main cannot be opened: wrong password']);
  assert.equal(broken.repository_error, 'wrong password');
  assert.deepEqual(broken.failures.map((f) => f.what), ['repository']);
});

test('exposure: peaks need two protections; thinning keeps the highest peak of each slice and the current one', () => {
  const t = NOW.getTime();
  assert.deepEqual(exposurePeaks([], t - DAY, t, 60), []);
  assert.deepEqual(exposurePeaks([t - 120_000], t - DAY, t, 60).map((p) => [p.exposure_seconds, p.over_rpo, p.current]), [[120, true, true]]);
  const ends = Array.from({ length: 2001 }, (_, i) => t - DAY + i * 40_000 + (i === 1000 ? 30_000 : 0));
  const peaks = exposurePeaks(ends, t - DAY, t, null);
  const thin = thinPeaks(peaks, t - DAY, t, 100);
  assert.ok(thin.length <= 100);
  assert.equal(thin.at(-1)!.current, true);
  assert.equal(Math.max(...thin.map((p) => p.exposure_seconds)), Math.max(...peaks.map((p) => p.exposure_seconds)));
  assert.deepEqual(thinPeaks(peaks.slice(0, 5), t - DAY, t, 100), peaks.slice(0, 5));
});

test('exposure: protections are restore points and, after the first one, continuous entries; not safety, quarantine or incomplete copies', () => {
  const snapshots = [snap('db', 500, { tags: ['wal'], seconds: 0 }), snap('db', 400, { seconds: 0 }), snap('db', 300, { tags: ['wal'], seconds: 0 }), snap('db', 200, { tags: ['safety'], seconds: 0 }), snap('db', 150, { tags: ['quarantine'], seconds: 0 }), snap('db', 100, { complete: false, seconds: 0 }), snap('other', 50, { seconds: 0 })];
  assert.deepEqual(protectionEnds(snapshots, 'db'), [Date.parse(ago(400)), Date.parse(ago(300))]);
  const s = buildReport(config([source('db', { rpo: HOUR, type: 'sqlite' })]), states({ snapshots }), NOW, since(DAY)).sources[0]!;
  assert.deepEqual(s.series.rpo_exposure.map((p) => p.exposure_seconds), [6000, 18_000]);
  assert.equal(s.status.exposure_from, 'wal archive');
});
