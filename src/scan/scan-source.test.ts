import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { scanSource } from './scan-source.js';
import { encryptHead, MemoryRepo, realisticFile, type FileSpec } from './testing.js';
import type { ScanResult } from './types.js';

/** 60 documents, exports and configs of 3–60 KiB in a few folders. */
function project(seed = 1): Record<string, FileSpec> {
  const files: Record<string, FileSpec> = {};
  const kinds = ['text', 'json', 'csv'] as const;
  for (let i = 0; i < 60; i++) {
    const kind = kinds[i % 3]!;
    const dir = ['docs', 'exports', 'config', 'reports/2026'][i % 4]!;
    files[`${dir}/file-${i}.${kind === 'text' ? 'txt' : kind}`] = realisticFile(kind, 3000 + ((i * 7919) % 60_000), seed * 1000 + i);
  }
  return files;
}

const verdicts = (r: readonly ScanResult[]): boolean[] => r.map((x) => x.suspicious);

test('ordinary life: edits, new files, a few deletions, a folder moved, a log growing: nothing suspicious', async () => {
  const repo = new MemoryRepo();
  let files = project();
  const snaps = [repo.snapshot(files)];
  for (let day = 1; day <= 6; day++) {
    files = { ...files };
    for (let k = 0; k < 3; k++) files[`docs/file-${(day * 4 + k * 12) % 60}.txt`] = realisticFile('text', 9000, day * 100 + k); // edits
    files[`exports/new-${day}.csv`] = realisticFile('csv', 20_000, 500 + day); // a new export
    files['config/app.log'] = realisticFile('text', 2000 * day, 7); // grows
    if (day === 3) for (const p of Object.keys(files).filter((p) => p.startsWith('exports/')).slice(0, 3)) delete files[p];
    if (day === 5) {
      for (const p of Object.keys(files).filter((p) => p.startsWith('reports/2026/'))) {
        files[p.replace('reports/2026/', 'archive/2026/')] = files[p]!;
        delete files[p];
      }
    }
    snaps.push(repo.snapshot(files));
  }
  const r = await scanSource(repo, snaps);
  assert.deepEqual(verdicts(r), [false, false, false, false, false, false, false]);
  assert.equal(r[0]!.figures.files_before, null);
  assert.equal(r[0]!.figures.files, 60);
  assert.equal(r[5]!.figures.files_deleted, 15, 'the moved folder: 15 deleted, 15 new');
  assert.equal(r[5]!.figures.files_deleted_with_folder, 0, 'paired by content, not deletions');
  assert.ok(r.every((x) => x.score < 0.5), JSON.stringify(r.map((x) => [x.score, x.reasons])));
  assert.ok(r.slice(1).every((x) => x.figures.heads_encrypted === 0));
});

test('ransomware in two runs: head encrypted, renamed .locked, a note; then the rest; both flagged, the clean ones before are not; unchanged after stays flagged; the restore is not', async () => {
  const repo = new MemoryRepo();
  const clean = project(2);
  const snaps = [repo.snapshot(clean)];
  const edited = { ...clean, 'docs/file-0.txt': realisticFile('text', 8000, 999) };
  snaps.push(repo.snapshot(edited));
  const paths = Object.keys(edited).sort();
  const attack = (files: Record<string, FileSpec>, which: readonly string[]): Record<string, FileSpec> => {
    const out = { ...files };
    for (const [i, p] of which.entries()) {
      out[`${p}.locked`] = encryptHead(out[p] as string, 4096, i + 1);
      delete out[p];
    }
    return out;
  };
  const half = attack(edited, paths.slice(0, 30));
  half['README_TO_DECRYPT.txt'] = 'Your files are encrypted. Send 1 BTC to ...\n';
  snaps.push(repo.snapshot(half));
  const all = attack(half, paths.slice(30));
  snaps.push(repo.snapshot(all));
  snaps.push(repo.snapshot({ ...all, 'config/new-setting.json': realisticFile('json', 4000, 3) }));
  snaps.push(repo.snapshot({ ...edited, 'config/new-setting.json': realisticFile('json', 4000, 3) })); // restored
  const r = await scanSource(repo, snaps);
  assert.deepEqual(verdicts(r), [false, false, true, true, true, false], JSON.stringify(r.map((x) => [x.score, x.reasons]), null, 1));
  const first = r[2]!;
  assert.equal(first.score, 1);
  assert.equal(first.figures.files_extension_appended, 30);
  assert.equal(first.figures.heads_encrypted, 30);
  assert.equal(first.figures.files_deleted_in_place, 0, 'renamed files are not deletions');
  const why = first.reasons.join('\n');
  assert.match(why, /30 of 30 sampled changed files \(100%\) that compressed well now start with high-entropy data/);
  assert.match(why, /30 files \(50%\) replaced by a copy with an extension appended: \.locked \(30\)/);
  assert.match(why, /1 new file named like a ransom note: README_TO_DECRYPT\.txt/);
  assert.match(why, /change rate/);
  assert.match(r[3]!.reasons.join('\n'), /30 of 30 sampled/);
  assert.match(r[4]!.reasons.join('\n'), /still holds 61 files encrypted, renamed or dropped as of suspicious snapshot/);
  assert.equal(r[5]!.figures.files_deleted_in_place, 0, 'removing the encrypted copies is a clean-up');
});

test('partial encryption of the first KiB in place, no rename, no note: flagged by the heads', async () => {
  const repo = new MemoryRepo();
  const clean = project(3);
  const hit = Object.fromEntries(Object.entries(clean).map(([p, d], i) => [p, i % 2 === 0 ? encryptHead(d as string, 1024, i + 1) : d]));
  const r = await scanSource(repo, [repo.snapshot(clean), repo.snapshot({ ...clean, 'docs/x.txt': 'x' }), repo.snapshot(hit)]);
  assert.deepEqual(verdicts(r), [false, false, true]);
  assert.equal(r[2]!.figures.heads_sampled, 30);
  assert.equal(r[2]!.figures.heads_encrypted, 30);
  assert.ok(r[2]!.figures.head_ratio_before! < 0.6);
  assert.equal(r[2]!.reasons.length, 2, r[2]!.reasons.join('\n')); // heads and change rate
});

test('compressing files in place (a.csv → a.csv.gz) is neither encryption nor mass deletion', async () => {
  const repo = new MemoryRepo();
  const clean = project(4);
  const gz: Record<string, FileSpec> = {};
  for (const [p, d] of Object.entries(clean)) gz[p.endsWith('.csv') ? `${p}.gz` : p] = p.endsWith('.csv') ? gzipSync(Buffer.from(d as string)) : d;
  const r = await scanSource(repo, [repo.snapshot(clean), repo.snapshot(gz)]);
  assert.equal(r[1]!.suspicious, false, r[1]!.reasons.join('\n'));
  assert.equal(r[1]!.figures.files_deleted_in_place, 0);
  assert.equal(r[1]!.figures.files_extension_appended, 0);
});

test('mass deletion from folders that stay is flagged; the first snapshot is never flagged, even with a ransom note', async () => {
  const repo = new MemoryRepo();
  const clean = { ...project(5), '_readme.txt': 'pay us' };
  const kept = Object.fromEntries(Object.entries(clean).filter(([p], i) => i % 5 === 0 || p.startsWith('config/')));
  const r = await scanSource(repo, [repo.snapshot(clean), repo.snapshot(kept)]);
  assert.deepEqual(verdicts(r), [false, true]);
  assert.deepEqual(r[0]!.reasons, []);
  assert.match(r[1]!.reasons.join('\n'), /mass deletion: 36 files \(59%\) deleted from folders that still exist vs baseline none yet/);
});

test('a web shell and an exec bit in a web folder are reported as weak signals', async () => {
  const repo = new MemoryRepo();
  const clean = project(6);
  const r = await scanSource(repo, [repo.snapshot(clean), repo.snapshot({ ...clean, 'config/up.php': '<?php system($_GET["c"]); ?>', 'config/file-2.csv': { data: clean['config/file-2.csv'] as string, mode: 0o755 } })]);
  assert.equal(r[1]!.suspicious, false);
  assert.equal(r[1]!.score, 0.45);
  assert.deepEqual(r[1]!.reasons, ['1 script or executable added in config or web folders: config/up.php', 'exec bit newly set on 1 file in config or web folders: config/file-2.csv']);
});

test('database snapshots: a table losing most of its rows is flagged; a table emptied and refilled before is churn', async () => {
  const repo = new MemoryRepo();
  const dump = (n: number): Record<string, FileSpec> => ({ 'shop.sql': realisticFile('text', 5000, n) });
  const meta = (orders: number, sessions: number): Record<string, unknown> => ({ kind: 'postgres', mode: 'logical', tables: { 'public.orders': orders, 'public.sessions': sessions, 'public.users': 500 } });
  const snaps = [
    repo.snapshot(dump(1), { meta: meta(1000, 800) }),
    repo.snapshot(dump(2), { meta: meta(1010, 0) }), // sessions emptied: flagged once
    repo.snapshot(dump(3), { meta: meta(1020, 900) }),
    repo.snapshot(dump(4), { meta: meta(1030, 0) }), // emptied again: churn now
    repo.snapshot(dump(5), { meta: meta(10, 950) }), // orders wiped
    repo.snapshot(dump(6), { tags: ['wal'], meta: { kind: 'postgres', mode: 'wal' } }), // continuous: skipped
  ];
  const r = await scanSource(repo, snaps);
  assert.deepEqual(verdicts(r), [false, true, false, false, true]);
  assert.deepEqual(r[4]!.reasons, ['database rows fell 67% (1530 → 510) since the previous backup', '1 table lost 90% or more of its rows: public.orders']);
});

test('at most 200 changed files are read per snapshot, chosen the same way on every run', async () => {
  const repo = new MemoryRepo();
  const files: Record<string, FileSpec> = {};
  for (let i = 0; i < 500; i++) files[`d${i % 10}/f${i}.txt`] = realisticFile('text', 1500, i);
  const changed = Object.fromEntries(Object.entries(files).map(([p, d], i) => [p, encryptHead(d as string, 1024, i + 1)]));
  const snaps = [repo.snapshot(files), repo.snapshot(changed)];
  const a = await scanSource(repo, snaps);
  assert.ok(repo.dataLoads <= 400, `${repo.dataLoads} loads`);
  assert.equal(a[1]!.figures.heads_sampled, 200);
  assert.ok(a[1]!.suspicious);
  const b = await scanSource(repo, snaps);
  assert.deepEqual(b, a);
});

test('database snapshots: rows rewritten in place with the counts unchanged are flagged; a nightly job is not; a stats reset in between gives no figure', async () => {
  const repo = new MemoryRepo();
  const counters = { users: { ins: 40_000, upd: 0, del: 0 }, orders: { ins: 60_000, upd: 0, del: 0 } };
  let reset: string | null = null;
  const snapshot = (day: number): ReturnType<MemoryRepo['snapshot']> => repo.snapshot({ 'shop.pgdump': realisticFile('text', 5000, day) }, {
    meta: {
      kind: 'postgres', mode: 'logical', tables: { 'public.users': 40_000, 'public.orders': 60_000 }, stats_reset: reset,
      table_activity: { 'public.users': { ...counters.users, live: 40_000 }, 'public.orders': { ...counters.orders, live: 60_000 } },
    },
  });
  const nightly = (): void => {
    // the nightly job: 5% of the orders updated, 300 old ones archived away and 300 new; 200 users edit their profile
    counters.orders = { ins: counters.orders.ins + 300, upd: counters.orders.upd + 5000, del: counters.orders.del + 300 };
    counters.users = { ...counters.users, upd: counters.users.upd + 200 };
  };
  const snaps = [snapshot(0)];
  for (let day = 1; day <= 5; day++) {
    nightly();
    snaps.push(snapshot(day));
  }
  // day 6: the statistics were reset (pg_stat_reset), then much happened: the counters cannot tell how much since day 5
  reset = '2026-01-07T02:00:00.000000Z';
  counters.users = { ins: 0, upd: 200_000, del: 0 };
  counters.orders = { ins: 1000, upd: 150_000, del: 1000 };
  snaps.push(snapshot(6));
  // day 7: every user's email and every order encrypted in place (UPDATE ... SET col = encrypt(col)), counts unchanged
  nightly();
  counters.users = { ...counters.users, upd: counters.users.upd + 40_000 };
  counters.orders = { ...counters.orders, upd: counters.orders.upd + 60_000 };
  snaps.push(snapshot(7));
  nightly();
  snaps.push(snapshot(8));
  const r = await scanSource(repo, snaps);
  assert.deepEqual(verdicts(r), [false, false, false, false, false, false, false, true, false], JSON.stringify(r.map((x) => [x.score, x.reasons])));
  assert.equal(r[0]!.figures.row_churn, null, 'the first snapshot has nothing to compare with');
  assert.deepEqual(r.slice(1, 6).map((x) => x.figures.row_churn), [5500, 5500, 5500, 5500, 5500]);
  assert.ok(r.slice(1, 7).every((x) => x.reasons.length === 0));
  assert.equal(r[6]!.figures.row_churn, null, 'stats reset in between');
  assert.equal(r[7]!.figures.rows_updated, 105_200);
  assert.equal(r[7]!.figures.rows_deleted, 300);
  assert.equal(r[7]!.figures.rows_inserted, 300);
  assert.deepEqual(r[7]!.reasons, ['105,500 rows updated or deleted since the previous backup (106% of 100,000 rows) vs baseline 5,500']);
  assert.equal(r[8]!.figures.baseline.row_churn, 5500, 'the suspicious snapshot did not teach the baseline');
});
