/** Test fixtures of the report: snapshots, journal entries and a config, at times relative to a fixed now. */
import { createHash } from 'node:crypto';
import type { SourceConfig } from '../config/schema-sources.js';
import type { JournalEntryWithId } from '../journal/journal.js';
import type { SnapshotWithId } from '../repo/snapshot.js';
import type { ReportConfig, ReportRepositoryState } from './build-report.js';

export const NOW = new Date('2026-11-29T12:00:00Z');
export const ago = (minutes: number): string => new Date(NOW.getTime() - minutes * 60_000).toISOString();

let counter = 0;
const id = (): string => createHash('sha256').update(String(++counter)).digest('hex');

export function snap(source: string, minutesAgo: number, o: { tags?: string[]; complete?: boolean; warnings?: string[]; bytes?: number; added?: number; seconds?: number; paths?: string[] } = {}): SnapshotWithId {
  const time = ago(minutesAgo);
  const seconds = o.seconds ?? 30;
  return {
    id: id(), version: 1, time, host: 'h', username: 'u', uid: 0, gid: 0, paths: o.paths ?? ['/srv/app'], tags: o.tags ?? [], source, type: 'full', parent: null, tree: 't', excludes: [],
    complete: o.complete ?? true, warnings: o.warnings ?? [], program_version: '0',
    summary: {
      files_new: 0, files_changed: 0, files_unmodified: 0, dirs_new: 0, dirs_changed: 0, dirs_unmodified: 0, data_blobs: 0, tree_blobs: 0,
      data_added: o.added ?? 1000, total_files_processed: 3, total_bytes_processed: o.bytes ?? 50_000,
      backup_start: time, backup_end: new Date(Date.parse(time) + seconds * 1000).toISOString(), total_duration: seconds,
    },
  };
}

export function entry(operation: string, source: string | null, minutesAgo: number, o: { ok?: boolean; error?: string; inputs?: Record<string, unknown>; figures?: Record<string, unknown> } = {}): JournalEntryWithId {
  const ok = o.ok ?? true;
  return {
    id: id(), version: 1, seq: counter, prev: null, time: ago(minutesAgo), started: ago(minutesAgo), op_id: 'x', host: 'h', user: 'u', program_version: '0',
    operation, source, result: ok ? 'ok' : 'failed', inputs: o.inputs ?? {}, figures: o.figures ?? {}, ...(ok ? {} : { error: o.error ?? 'boom' }),
  };
}

export function source(name: string, o: { rpo?: number; rto?: number; type?: string; repository?: string } = {}): SourceConfig {
  return { name, type: o.type ?? 'files', repository: o.repository ?? 'main', paths: ['/srv/app'], tags: [], services: [], checks: [], exclude: [], one_file_system: false, ...(o.rpo === undefined ? {} : { rpo: o.rpo }), ...(o.rto === undefined ? {} : { rto: o.rto }) } as unknown as SourceConfig;
}

export function config(sources: SourceConfig[], project = 'shop'): ReportConfig {
  return { project, sources, repositories: { main: { targets: [{ url: '/r' }], min_targets: 1, compression: 'auto', append_only: false } } } as unknown as ReportConfig;
}

export function states(main: Partial<ReportRepositoryState>): Map<string, ReportRepositoryState> {
  return new Map([['main', { snapshots: [], journal: [], appendOnlyKey: false, ...main }]]);
}
