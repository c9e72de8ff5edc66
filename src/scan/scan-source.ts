import type { BlobLoader, Repository } from '../repo/repository.js';
import { isContinuous, type SnapshotWithId } from '../repo/snapshot.js';
import { History } from './baseline.js';
import { changeFigures } from './change-figures.js';
import { allFiles, baseName, fileChanges, type FileChange } from './file-changes.js';
import { HeadReader } from './heads.js';
import { judge } from './heuristics.js';
import { extensionOf } from './indicators.js';
import { compareActivity, compareRows, rowCounts, tableActivity } from './row-counts.js';
import { THRESHOLDS } from './thresholds.js';
import type { Baseline, ScanFigures, ScanOptions, ScanResult } from './types.js';

/** What the scan reads: trees and first data chunks (a Repository is one). */
export type ScanRepo = BlobLoader & Pick<Repository, 'loadIndex'>;

/**
 * Judges each snapshot of one source against the one before it and the source's baseline (docs/scan.md). `snapshots`
 * are one source's, oldest first; continuous protection entries (WAL, replication, binlogs) are skipped here. The first
 * snapshot has nothing to compare with and is never suspicious. Reads trees and, per snapshot, the first chunk of at
 * most THRESHOLDS.heads.sample changed files (and of their previous versions). Writes nothing.
 */
export async function scanSource(repo: ScanRepo, snapshots: readonly SnapshotWithId[], o: ScanOptions = {}): Promise<ScanResult[]> {
  await repo.loadIndex();
  const list = snapshots.filter((s) => !isContinuous(s));
  const heads = new HeadReader(repo);
  const history = new History();
  /** Extensions of the source's files, from its first snapshot and the new files of non-suspicious ones. */
  const seen = new Set<string>();
  /** Path → id of the suspicious snapshot where the file was evidence (encrypted head, renamed, ransom note). */
  const evidence = new Map<string, string>();
  const results: ScanResult[] = [];
  let files = 0;
  let prev: SnapshotWithId | undefined;
  for (const [i, sn] of list.entries()) {
    o.onProgress?.({ done: i, total: list.length, snapshot_id: sn.id });
    if (!prev) {
      for await (const c of allFiles(repo, sn.tree)) {
        files++;
        if (c.kind === 'added') seen.add(extensionOf(baseName(c.path)));
      }
      const rows = rowCounts(sn.meta);
      if (rows) history.rows(rows, []);
      results.push(result(sn, { score: 0, suspicious: false, reasons: [] }, firstFigures(files, rows, history.baseline())));
      prev = sn;
      continue;
    }

    const changes: FileChange[] = [];
    for await (const c of fileChanges(repo, prev.tree, sn.tree)) changes.push(c);
    const cf = changeFigures(changes, seen, new Set(evidence.keys()));
    for (const c of changes) if (c.kind === 'deleted' || c.kind === 'changed') evidence.delete(c.path);
    const hf = await heads.compare(cf.headPairs);
    const rowsBefore = rowCounts(prev.meta);
    const rowsAfter = rowCounts(sn.meta);
    const rf = rowsBefore && rowsAfter ? compareRows(rowsBefore, rowsAfter, history.churn) : null;
    const activityBefore = tableActivity(prev.meta);
    const activityAfter = tableActivity(sn.meta);
    const af = activityBefore && activityAfter ? compareActivity(activityBefore, activityAfter, rowsBefore) : null;
    const filesBefore = files;
    files += cf.added - cf.deleted;
    const carriedFrom = evidence.values().next();
    const count = (paths: readonly string[], ext: (p: string) => string): Record<string, number> => {
      const m: Record<string, number> = {};
      for (const p of paths) m[ext(p)] = (m[ext(p)] ?? 0) + 1;
      return m;
    };
    const listed = THRESHOLDS.listedPaths;
    const figures: ScanFigures = {
      files,
      files_before: filesBefore,
      files_new: cf.added,
      files_changed: cf.changed,
      files_deleted: cf.deleted,
      change_rate: (cf.added + cf.changed + cf.deleted) / Math.max(1, filesBefore),
      files_renamed: cf.renamed,
      files_extension_appended: cf.appended.length,
      appended_extensions: count(cf.appended, (p) => extensionOf(baseName(p))),
      unseen_extensions: Object.fromEntries(cf.unseenExtensions),
      files_ransomware_extension: cf.ransomwareExtension.length,
      ransomware_extensions: Object.keys(count(cf.ransomwareExtension, (p) => extensionOf(baseName(p)))).sort(),
      files_deleted_in_place: cf.deletedInPlace,
      files_deleted_with_folder: cf.deletedWithFolder,
      deletion_rate: cf.deletedInPlace / Math.max(1, filesBefore),
      heads_sampled: hf.sampled,
      heads_encrypted: hf.encrypted.length,
      high_entropy_share: hf.sampled === 0 ? null : hf.encrypted.length / hf.sampled,
      head_entropy_before: hf.entropyBefore,
      head_entropy_after: hf.entropyAfter,
      head_ratio_before: hf.ratioBefore,
      head_ratio_after: hf.ratioAfter,
      heads_unreadable: hf.unreadable,
      ransom_notes: cf.ransomNotes.slice(0, listed),
      ransom_notes_count: cf.ransomNotes.length,
      scripts_added: cf.scripts.slice(0, listed),
      scripts_added_count: cf.scripts.length,
      exec_bit_set: cf.execSet.slice(0, listed),
      exec_bit_set_count: cf.execSet.length,
      rows_before: rf?.before ?? null,
      rows_after: rf?.after ?? null,
      tables_emptied: rf ? [...rf.emptied] : [],
      rows_inserted: af?.inserted ?? null,
      rows_updated: af?.updated ?? null,
      rows_deleted: af?.deleted ?? null,
      row_churn: af?.churn ?? null,
      rows_previous: af?.rowsBefore ?? null,
      tables_counters_reset: af ? af.reset.slice(0, listed) : [],
      files_carried: evidence.size,
      carried_from: carriedFrom.done ? null : carriedFrom.value,
      baseline: history.baseline(),
    };
    const verdict = judge(figures);
    if (verdict.suspicious) {
      for (const p of [...hf.encrypted, ...cf.appended, ...cf.ransomwareExtension, ...cf.ransomNotes]) if (!evidence.has(p)) evidence.set(p, sn.id);
    } else {
      history.learn(figures);
      for (const c of changes) if (c.kind === 'added') seen.add(extensionOf(baseName(c.path)));
    }
    if (rowsAfter) history.rows(rowsAfter, rf?.emptied ?? []);
    results.push(result(sn, verdict, figures));
    prev = sn;
  }
  if (list.length > 0) o.onProgress?.({ done: list.length, total: list.length, snapshot_id: list.at(-1)!.id });
  return results;
}

function result(sn: SnapshotWithId, v: { score: number; suspicious: boolean; reasons: string[] }, figures: ScanFigures): ScanResult {
  return { snapshot_id: sn.id, time: sn.time, source: sn.source, suspicious: v.suspicious, score: v.score, reasons: v.reasons, figures };
}

function firstFigures(files: number, rows: Record<string, number> | null, baseline: Baseline): ScanFigures {
  return {
    files, files_before: null, files_new: 0, files_changed: 0, files_deleted: 0, change_rate: null, files_renamed: 0,
    files_extension_appended: 0, appended_extensions: {}, unseen_extensions: {}, files_ransomware_extension: 0, ransomware_extensions: [],
    files_deleted_in_place: 0, files_deleted_with_folder: 0, deletion_rate: null, heads_sampled: 0, heads_encrypted: 0,
    high_entropy_share: null, head_entropy_before: null, head_entropy_after: null, head_ratio_before: null, head_ratio_after: null,
    heads_unreadable: 0, ransom_notes: [], ransom_notes_count: 0, scripts_added: [], scripts_added_count: 0, exec_bit_set: [], exec_bit_set_count: 0,
    rows_before: null, rows_after: rows ? Object.values(rows).reduce((s, n) => s + n, 0) : null, tables_emptied: [],
    rows_inserted: null, rows_updated: null, rows_deleted: null, row_churn: null, rows_previous: null, tables_counters_reset: [], files_carried: 0,
    carried_from: null, baseline,
  };
}
