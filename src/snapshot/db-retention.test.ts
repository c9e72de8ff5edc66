import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BackupType, SnapshotWithId } from '../repo/snapshot.js';
import { planDatabaseRetention } from './db-retention.js';

let n = 0;
function snap(day: number, type: BackupType, extra: { tags?: string[]; meta?: Record<string, unknown> } = {}): SnapshotWithId {
  const time = `2026-11-${String(day).padStart(2, '0')}T01:00:00.000Z`;
  n++;
  return {
    id: `${String(n).padStart(2, '0')}${'0'.repeat(62)}`, version: 1, time, host: 'h', username: 'u', uid: 0, gid: 0, paths: ['p'], tags: extra.tags ?? [], source: 'db', type, parent: null, tree: 't',
    excludes: [], complete: true, warnings: [], program_version: 'x', meta: extra.meta ?? { kind: 'postgres', mode: 'physical' },
    summary: { files_new: 0, files_changed: 0, files_unmodified: 0, dirs_new: 0, dirs_changed: 0, dirs_unmodified: 0, data_blobs: 0, tree_blobs: 0, data_added: 0, total_files_processed: 0, total_bytes_processed: 0, backup_start: time, backup_end: time, total_duration: 0 },
  };
}
const wal = (day: number, file: string): SnapshotWithId => snap(day, 'full', { tags: ['wal'], meta: { kind: 'postgres', mode: 'wal', file, pushed_at: `2026-11-${String(day).padStart(2, '0')}T02:00:00.000Z` } });
const kept = (p: ReturnType<typeof planDatabaseRetention>, list: SnapshotWithId[]): number[] => list.map((s, i) => (p.keep.has(s.id) ? i : -1)).filter((i) => i >= 0);

test('full: N keeps the newest N full backups and what came after the oldest of them; WAL follows the oldest kept base', () => {
  const list = [snap(1, 'full'), snap(2, 'incremental'), snap(3, 'differential'), snap(8, 'full'), snap(9, 'incremental'), snap(15, 'full'), snap(16, 'differential'),
    wal(1, '000000010000000000000001'), wal(7, '000000010000000000000009'), wal(8, '00000001000000000000000A'), wal(16, '000000010000000000000020'), wal(2, '00000002.history')];
  const p = planDatabaseRetention(list, { full: 2 });
  assert.deepEqual(kept(p, list), [3, 4, 5, 6, 9, 10, 11]);
  assert.equal(p.keep.get(list[11]!.id), 'timeline history');
  assert.equal(p.remove.length, 5);
});

test('diff: M expires older differential backups and the incrementals that depend on them', () => {
  const list = [snap(1, 'full'), snap(2, 'differential'), snap(3, 'incremental'), snap(4, 'differential'), snap(5, 'incremental'), snap(6, 'differential'), snap(7, 'incremental')];
  const p = planDatabaseRetention(list, { full: 1, diff: 2 });
  assert.deepEqual(kept(p, list), [0, 3, 4, 5, 6]);
});

test('a keep_* policy keeps more; a kept incremental keeps the backups it is applied on (MariaDB chains)', () => {
  const f = snap(1, 'full', { meta: { kind: 'mariadb', mode: 'physical', base: null } });
  const i1 = snap(2, 'incremental', { meta: { kind: 'mariadb', mode: 'physical', base: f.id } });
  const f2 = snap(3, 'full', { meta: { kind: 'mariadb', mode: 'physical', base: null } });
  const i2 = snap(4, 'incremental', { meta: { kind: 'mariadb', mode: 'physical', base: f2.id } });
  const list = [f, i1, f2, i2];
  const only = planDatabaseRetention(list, {}, new Map([[i1.id, 'daily']]));
  assert.deepEqual(kept(only, list), [0, 1]);
  assert.match(only.keep.get(f.id)!, /needed by/);
  const both = planDatabaseRetention(list, { full: 1 }, new Map([[i1.id, 'daily']]));
  assert.deepEqual(kept(both, list), [0, 1, 2, 3]);
});

test('SQLite replication: generations go with their base; with nothing kept, continuous entries stay', () => {
  const base = (day: number, g: string): SnapshotWithId => snap(day, 'full', { tags: ['replica'], meta: { kind: 'sqlite', mode: 'replica-base', generation: g } });
  const seg = (day: number, g: string): SnapshotWithId => snap(day, 'full', { tags: ['replica'], meta: { kind: 'sqlite', mode: 'replica-wal', generation: g } });
  const list = [base(1, 'a'), seg(1, 'a'), base(2, 'b'), seg(2, 'b'), seg(3, 'b'), snap(3, 'full', { meta: { kind: 'sqlite' } })];
  const p = planDatabaseRetention(list, { full: 2 });
  assert.deepEqual(kept(p, list), [2, 3, 4, 5]);
  const wals = [wal(1, '000000010000000000000001')];
  assert.equal(planDatabaseRetention(wals, { full: 1 }).remove.length, 0);
});

test('MariaDB binlogs are kept from the file the oldest kept backup ends in', () => {
  const b = (day: number, file: string): SnapshotWithId => snap(day, 'full', { meta: { kind: 'mariadb', mode: 'physical', base: null, binlog: { file, position: 4 } } });
  const log = (day: number, file: string): SnapshotWithId => snap(day, 'full', { tags: ['binlog'], meta: { kind: 'mariadb', mode: 'binlog', file } });
  const list = [b(1, 'binlog.000001'), log(2, 'binlog.000001'), b(3, 'binlog.000003'), log(3, 'binlog.000002'), log(4, 'binlog.000003'), log(5, 'binlog.000004')];
  const p = planDatabaseRetention(list, { full: 1 });
  assert.deepEqual(kept(p, list), [2, 4, 5]);
});
