import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sourceStatus, type StatusInput } from './status.js';
import type { SnapshotWithId } from '../repo/snapshot.js';
import type { JournalEntryWithId } from '../journal/journal.js';
import type { SourceConfig } from '../config/schema-sources.js';

const NOW = new Date('2026-11-29T12:00:00Z');
const ago = (minutes: number): string => new Date(NOW.getTime() - minutes * 60_000).toISOString();

function snap(id: string, minutesAgo: number, tags: string[] = [], complete = true): SnapshotWithId {
  const time = ago(minutesAgo);
  return {
    id, version: 1, time, host: 'h', username: 'u', uid: 0, gid: 0, paths: ['/x'], tags, source: 'db', type: 'full', parent: null, tree: 't', excludes: [], complete, warnings: [], program_version: '0',
    summary: { files_new: 0, files_changed: 0, files_unmodified: 0, dirs_new: 0, dirs_changed: 0, dirs_unmodified: 0, data_blobs: 0, tree_blobs: 0, data_added: 0, total_files_processed: 0, total_bytes_processed: 0, backup_start: time, backup_end: time, total_duration: 0 },
  };
}

function entry(operation: string, minutesAgo: number, result: 'ok' | 'failed', figures: Record<string, unknown> = {}, source: string | null = 'db'): JournalEntryWithId {
  return { id: `${operation}${minutesAgo}`, version: 1, seq: 1, prev: null, time: ago(minutesAgo), started: ago(minutesAgo), op_id: 'x', host: 'h', user: 'u', program_version: '0', operation, source, result, inputs: {}, figures, ...(result === 'failed' ? { error: 'boom' } : {}) };
}

const source = { name: 'db', type: 'postgres', repository: 'r', rpo: 3_600_000, rto: 600_000, tags: [], services: [], checks: [] } as unknown as SourceConfig;
const input = (o: Partial<StatusInput>): StatusInput => ({ source, repository: null, snapshots: [], journal: [], appendOnlyKey: false, now: NOW, ...o });
const drilled = [entry('drill', 60, 'ok', { rto_seconds: 120 }), entry('check', 60, 'ok', {}, null)];

test('status: the archived WAL after the last backup is the exposure; safety, quarantine, incomplete and foreign snapshots are not protection', () => {
  const s = sourceStatus(input({ snapshots: [snap('a', 300), snap('w', 10, ['wal']), snap('s', 1, ['safety']), snap('q', 1, ['quarantine']), snap('i', 1, [], false)], journal: drilled }));
  assert.equal(s.last_backup?.snapshot_id, 'a');
  assert.equal(s.exposure_seconds, 600);
  assert.equal(s.exposure_from, 'wal archive');
  assert.equal(s.verdict, 'ok');
  assert.deepEqual(s.reasons, []);
});

test('status: exposure over the RPO violates it; over 75% of it is at risk; a WAL entry older than the backup does not count', () => {
  const late = sourceStatus(input({ snapshots: [snap('w', 400, ['wal']), snap('a', 90)], journal: drilled }));
  assert.equal(late.exposure_from, 'backup');
  assert.equal(late.verdict, 'violated');
  assert.match(late.reasons[0]!, /^last protection 1h 30m ago, over the RPO of 1h 00m$/);
  const due = sourceStatus(input({ snapshots: [snap('a', 50)], journal: drilled }));
  assert.equal(due.verdict, 'at risk');
  assert.match(due.reasons[0]!, /83% of the RPO/);
});

test('status: drills and checks — failed or too slow violates, missing or stale is at risk', () => {
  const base = [snap('a', 5)];
  assert.deepEqual(sourceStatus(input({ snapshots: base })).reasons, ['never drilled: the RTO is unproven (run `safepoint drill --source db`)', 'repository never checked (run `safepoint check`)']);
  const slow = sourceStatus(input({ snapshots: base, journal: [entry('drill', 5, 'ok', { rto_seconds: 900 }), entry('check', 5, 'ok', {}, null)] }));
  assert.equal(slow.verdict, 'violated');
  assert.match(slow.reasons[0]!, /restored in 15m, over the RTO of 10m/);
  const failed = sourceStatus(input({ snapshots: base, journal: [entry('drill', 5, 'failed'), entry('check', 5, 'failed', {}, null)] }));
  assert.equal(failed.verdict, 'violated');
  assert.equal(failed.reasons.length, 2);
  const stale = sourceStatus(input({ snapshots: base, journal: [entry('drill', 20 * 1440, 'ok', { rto_seconds: 1 }), entry('check', 20 * 1440, 'ok', {}, null)] }));
  assert.equal(stale.verdict, 'at risk');
  assert.match(stale.reasons.join(' | '), /last drill 20d 0h ago \| last check 20d 0h ago/);
  const other = sourceStatus(input({ snapshots: base, journal: [entry('drill', 5, 'ok', { rto_seconds: 1 }, 'another'), entry('check', 5, 'ok', {}, null)] }));
  assert.match(other.reasons[0]!, /never drilled/);
});

test('status: immutability from the repository config and the key', () => {
  assert.equal(sourceStatus(input({ repository: { object_lock: { mode: 'compliance', days: 30 } } as never })).immutability.state, 'object lock');
  assert.equal(sourceStatus(input({ appendOnlyKey: true })).immutability.state, 'append-only');
  assert.equal(sourceStatus(input({})).immutability.state, 'none');
  assert.deepEqual(sourceStatus(input({})).reasons, ['never backed up']);
});
