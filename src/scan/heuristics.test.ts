import { test } from 'node:test';
import assert from 'node:assert/strict';
import { judge, pct } from './heuristics.js';
import { median } from './baseline.js';
import { compareActivity, compareRows, rowCounts, tableActivity, type Activity } from './row-counts.js';
import type { ScanFigures } from './types.js';

/** The figures of a quiet day: 200 files, 3 edited, 2 new, 1 deleted, a baseline of such days. */
function figures(o: Partial<ScanFigures> = {}): ScanFigures {
  return {
    files: 201, files_before: 200, files_new: 2, files_changed: 3, files_deleted: 1, change_rate: 0.03, files_renamed: 0,
    files_extension_appended: 0, appended_extensions: {}, unseen_extensions: {}, files_ransomware_extension: 0, ransomware_extensions: [],
    files_deleted_in_place: 1, files_deleted_with_folder: 0, deletion_rate: 0.005, heads_sampled: 3, heads_encrypted: 0, high_entropy_share: 0,
    head_entropy_before: null, head_entropy_after: null, head_ratio_before: null, head_ratio_after: null, heads_unreadable: 0,
    ransom_notes: [], ransom_notes_count: 0, scripts_added: [], scripts_added_count: 0, exec_bit_set: [], exec_bit_set_count: 0,
    rows_before: null, rows_after: null, tables_emptied: [], rows_inserted: null, rows_updated: null, rows_deleted: null, row_churn: null,
    rows_previous: null, tables_counters_reset: [], files_carried: 0, carried_from: null,
    baseline: { snapshots: 5, change_rate: 0.03, deletion_rate: 0.005, high_entropy_share: 0, scripts_added: 0, row_churn: null },
    ...o,
  };
}

test('a quiet day is not suspicious and has no reason', () => {
  assert.deepEqual(judge(figures()), { score: 0, suspicious: false, reasons: [] });
});

test('the first snapshot of a source is never suspicious, whatever it holds', () => {
  const v = judge(figures({ files_before: null, ransom_notes_count: 2, ransom_notes: ['a/_readme.txt', 'b/_readme.txt'] }));
  assert.deepEqual(v, { score: 0, suspicious: false, reasons: [] });
});

test('change rate far above the baseline is reported with its figure, but alone is only weak', () => {
  const v = judge(figures({ files_new: 10, files_changed: 150, files_deleted: 14, change_rate: 0.87 }));
  assert.equal(v.suspicious, false);
  assert.equal(v.score, 0.25);
  assert.match(v.reasons[0]!, /^change rate 87% of files \(150 changed, 10 new, 14 deleted of 200\) vs baseline 3%$/);
  // a source that always churns this much is not unusual
  assert.equal(judge(figures({ files_changed: 150, change_rate: 0.8, baseline: { ...figures().baseline, change_rate: 0.7 } })).reasons.length, 0);
});

test('ordinary bursts that fire several weak heuristics stay below the threshold (a deploy, npm install, a refactor)', () => {
  const deploy = judge(figures({
    files_new: 3000, change_rate: 15, unseen_extensions: { mjs: 800, map: 900 }, files_renamed: 120, scripts_added: ['public/app.js'], scripts_added_count: 1,
    files_deleted_with_folder: 150, files_deleted: 150, exec_bit_set_count: 2,
  }));
  assert.equal(deploy.suspicious, false);
  assert.equal(deploy.score, 0.45);
  assert.equal(deploy.reasons.length, 6);
});

test('heads that turned high-entropy are strong, with entropy and compressibility in the reason', () => {
  const v = judge(figures({ heads_sampled: 40, heads_encrypted: 30, high_entropy_share: 0.75, head_entropy_before: 4.62, head_entropy_after: 7.81, head_ratio_before: 0.41, head_ratio_after: 0.98 }));
  assert.equal(v.suspicious, true);
  assert.equal(v.score, 0.8);
  assert.equal(v.reasons[0], '30 of 40 sampled changed files (75%) that compressed well now start with high-entropy data: entropy 4.6 → 7.8 bits/byte, zstd ratio 0.41 → 0.98 vs baseline 0%');
  assert.equal(judge(figures({ heads_sampled: 40, heads_encrypted: 12, high_entropy_share: 0.3 })).score, 0.6);
  assert.equal(judge(figures({ heads_sampled: 4, heads_encrypted: 2, high_entropy_share: 0.5 })).suspicious, false, 'two files is someone encrypting two files');
});

test('renames to an appended extension and ransomware extensions are capped together', () => {
  const v = judge(figures({ files_extension_appended: 100, appended_extensions: { locked: 100 }, files_ransomware_extension: 100, ransomware_extensions: ['locked'] }));
  assert.equal(v.score, 0.6);
  assert.ok(v.suspicious);
  assert.match(v.reasons.join('\n'), /100 files \(50%\) replaced by a copy with an extension appended: \.locked \(100\)/);
  assert.match(v.reasons.join('\n'), /100 new files with a ransomware extension: \.locked/);
});

test('mass deletion from folders that remain is strong above half the files; a folder removed is weak', () => {
  const v = judge(figures({ files_deleted: 150, files_deleted_in_place: 150, deletion_rate: 0.75, change_rate: 0.75 }));
  assert.ok(v.suspicious);
  assert.match(v.reasons.join('\n'), /mass deletion: 150 files \(75%\) deleted from folders that still exist vs baseline 0\.5%/);
  assert.equal(judge(figures({ files_deleted: 150, files_deleted_with_folder: 150, deletion_rate: 0, change_rate: 0.75 })).suspicious, false);
  assert.equal(judge(figures({ files_deleted: 8, files_deleted_in_place: 8, deletion_rate: 0.04 })).reasons.length, 0, 'a few deletions');
});

test('one ransom note is enough', () => {
  const v = judge(figures({ ransom_notes: ['docs/README_TO_DECRYPT.txt'], ransom_notes_count: 1 }));
  assert.ok(v.suspicious);
  assert.deepEqual(v.reasons, ['1 new file named like a ransom note: docs/README_TO_DECRYPT.txt']);
});

test('a script dropped in a web folder is reported but weak; a source that adds scripts routinely is not reported', () => {
  const v = judge(figures({ scripts_added: ['public/x.php'], scripts_added_count: 1 }));
  assert.equal(v.suspicious, false);
  assert.equal(v.score, 0.2);
  assert.equal(judge(figures({ scripts_added_count: 1, baseline: { ...figures().baseline, scripts_added: 2 } })).reasons.length, 0);
});

test('database rows: a halved database and an emptied table are strong', () => {
  const drop = judge(figures({ rows_before: 10_000, rows_after: 2_000 }));
  assert.ok(drop.suspicious);
  assert.deepEqual(drop.reasons, ['database rows fell 80% (10000 → 2000) since the previous backup']);
  const table = judge(figures({ rows_before: 10_000, rows_after: 9_000, tables_emptied: ['public.orders'] }));
  assert.ok(table.suspicious);
  assert.deepEqual(table.reasons, ['1 table lost 90% or more of its rows: public.orders']);
  assert.equal(judge(figures({ rows_before: 10_000, rows_after: 10_500 })).reasons.length, 0);
});

test('compareRows: tables that lost most rows, churn tables left out; rowCounts reads tables or row_counts', () => {
  const r = compareRows({ orders: 1000, users: 50, sessions: 900, gone: 400 }, { orders: 40, users: 0, sessions: 0 }, new Set(['sessions']));
  assert.deepEqual(r, { before: 1450, after: 40, emptied: ['gone', 'orders'] });
  assert.deepEqual(rowCounts({ kind: 'sqlite', tables: { a: 1, b: 'x' } }), { a: 1 });
  assert.deepEqual(rowCounts({ row_counts: { a: 2 } }), { a: 2 });
  assert.equal(rowCounts({ kind: 'postgres', mode: 'physical' }), null);
  assert.equal(rowCounts(undefined), null);
});

test('row churn: a mass update that keeps the row counts is strong, with its figures in the reason', () => {
  const base = { ...figures().baseline, row_churn: 1200 };
  const v = judge(figures({ rows_before: 420_000, rows_after: 420_000, rows_updated: 410_000, rows_deleted: 2000, row_churn: 412_000, rows_previous: 420_000, baseline: base }));
  assert.ok(v.suspicious);
  assert.equal(v.score, 0.6);
  assert.deepEqual(v.reasons, ['412,000 rows updated or deleted since the previous backup (98% of 420,000 rows) vs baseline 1,200']);
  const first = judge(figures({ row_churn: 3000, rows_previous: 4000, baseline: { ...base, row_churn: null } }));
  assert.deepEqual(first.reasons, ['3,000 rows updated or deleted since the previous backup (75% of 4,000 rows) vs baseline none yet']);
});

test('row churn: ordinary life is not flagged (a nightly job, a source that always rewrites most rows, a small database, no figure)', () => {
  const base = figures().baseline;
  const nightly = figures({ row_churn: 21_000, rows_previous: 420_000, baseline: { ...base, row_churn: 20_000 } });
  assert.deepEqual(judge(nightly).reasons, [], '5% of the rows, as every day');
  const busyDay = figures({ row_churn: 150_000, rows_previous: 420_000, baseline: { ...base, row_churn: 20_000 } });
  assert.deepEqual(judge(busyDay).reasons, [], '7 times the usual, but a third of the rows');
  const cache = figures({ row_churn: 400_000, rows_previous: 420_000, baseline: { ...base, row_churn: 300_000 } });
  assert.deepEqual(judge(cache).reasons, [], 'most rows rewritten every day is this source\'s habit');
  assert.deepEqual(judge(figures({ row_churn: 900, rows_previous: 1000, baseline: { ...base, row_churn: 10 } })).reasons, [], 'under 1,000 rows');
  assert.deepEqual(judge(figures({ row_churn: null, rows_previous: null })).reasons, [], 'counters reset or not recorded');
});

test('compareActivity: deltas of the counters; a stats reset gives no figure; a table whose counters went back is left out', () => {
  const a = (reset: string | null, tables: Record<string, [number, number, number, number?]>): Activity => ({
    statsReset: reset,
    tables: Object.fromEntries(Object.entries(tables).map(([t, [ins, upd, del, live]]) => [t, { ins, upd, del, live: live ?? null }])),
  });
  const before = a('2026-01-01T00:00:00.000000Z', { 'public.users': [5000, 100, 10, 4990], 'public.orders': [9000, 0, 0, 9000], 'public.tmp': [50, 50, 50, 0] });
  const after = a('2026-01-01T00:00:00.000000Z', { 'public.users': [5010, 5100, 20, 4990], 'public.orders': [9100, 0, 100, 9000], 'public.tmp': [5, 0, 0, 5], 'public.renamed': [1, 90_000, 0, 1] });
  assert.deepEqual(compareActivity(before, after, null), { inserted: 110, updated: 5000, deleted: 110, churn: 5110, rowsBefore: 13_990, reset: ['public.tmp'] });
  assert.equal(compareActivity(before, after, { 'public.users': 5000, 'public.orders': 9100, 'public.tmp': 0 })?.rowsBefore, 14_100, 'exact counts when recorded');
  assert.equal(compareActivity(before, { ...after, statsReset: '2026-01-05T10:00:00.000000Z' }, null), null, 'stats reset in between');
  assert.equal(compareActivity(before, a('2026-01-01T00:00:00.000000Z', { 'public.users': [1, 1, 1] }), null), null, 'every table went back: a crash or a reset');
  assert.deepEqual(tableActivity({ stats_reset: null, table_activity: { 'public.a': { ins: 3, upd: 2, del: 1, live: 2 }, 'public.b': { ins: 'x' } } }), { statsReset: null, tables: { 'public.a': { ins: 3, upd: 2, del: 1, live: 2 } } });
  assert.equal(tableActivity({ kind: 'postgres', tables: { a: 1 } }), null);
  assert.equal(tableActivity(undefined), null);
});

test('median and percentages', () => {
  assert.equal(median([]), null);
  assert.equal(median([null, 3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(pct(0.873), '87%');
  assert.equal(pct(0.004), '0.4%');
  assert.equal(pct(0.03), '3%');
  assert.equal(pct(0), '0%');
});
