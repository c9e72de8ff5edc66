import { shortId } from '../repo/ids.js';
import { THRESHOLDS as T } from './thresholds.js';
import type { ScanFigures } from './types.js';

/** One heuristic that fired: its points, whether it is weak (capped together, see THRESHOLDS.weakCap), and why. */
export interface Signal {
  readonly points: number;
  readonly weak: boolean;
  /** Heuristic 3's strong signals share THRESHOLDS.renameCap. */
  readonly group?: 'rename';
  readonly reason: string;
}

/** The verdict from the figures: score in [0, 1], suspicious at THRESHOLDS.suspiciousScore, one reason per signal. */
export function judge(f: ScanFigures): { score: number; suspicious: boolean; reasons: string[] } {
  if (f.files_before === null) return { score: 0, suspicious: false, reasons: [] };
  const signals = detect(f);
  const strongRename = Math.min(T.renameCap, sum(signals.filter((s) => !s.weak && s.group === 'rename')));
  const strong = sum(signals.filter((s) => !s.weak && s.group !== 'rename'));
  const weak = Math.min(T.weakCap, sum(signals.filter((s) => s.weak)));
  const score = Math.round(Math.min(1, strong + strongRename + weak) * 100) / 100;
  return { score, suspicious: score >= T.suspiciousScore, reasons: signals.map((s) => s.reason) };
}

const sum = (s: readonly Signal[]): number => s.reduce((n, x) => n + x.points, 0);

/** Every heuristic over the figures of a snapshot that has a previous one. */
export function detect(f: ScanFigures): Signal[] {
  const before = Math.max(1, f.files_before ?? 0);
  const b = f.baseline;
  const out: Signal[] = [];

  // 1. change rate far above the baseline
  const touched = f.files_new + f.files_changed + f.files_deleted;
  const rate = f.change_rate ?? 0;
  if (touched >= T.minFiles && rate >= Math.max(T.changeRate.min, T.changeRate.factor * (b.change_rate ?? 0))) {
    out.push({ points: T.changeRate.points, weak: true, reason: `change rate ${pct(rate)} of files (${f.files_changed} changed, ${f.files_new} new, ${f.files_deleted} deleted of ${f.files_before}) vs baseline ${basePct(b.change_rate)}` });
  }

  // 2. heads of files that compressed well now look encrypted
  const share = f.high_entropy_share ?? 0;
  const usual = b.high_entropy_share ?? 0;
  if (f.heads_encrypted >= T.heads.minFiles && share >= T.heads.share + usual) {
    const strongShare = share >= T.heads.strongShare + usual;
    const detail = f.head_entropy_before !== null && f.head_entropy_after !== null ? `: entropy ${f.head_entropy_before.toFixed(1)} → ${f.head_entropy_after.toFixed(1)} bits/byte, zstd ratio ${(f.head_ratio_before ?? 0).toFixed(2)} → ${(f.head_ratio_after ?? 0).toFixed(2)}` : '';
    out.push({ points: strongShare ? T.heads.strongPoints : T.heads.points, weak: false, reason: `${f.heads_encrypted} of ${f.heads_sampled} sampled changed files (${pct(share)}) that compressed well now start with high-entropy data${detail} vs baseline ${basePct(b.high_entropy_share)}` });
  }

  // 3. renames and extensions
  if (f.files_renamed >= T.minFiles && f.files_renamed / before >= T.renames.share) {
    out.push({ points: T.renames.points, weak: true, reason: `${f.files_renamed} files renamed (same content, new name): ${pct(f.files_renamed / before)} of files` });
  }
  const appended = f.files_extension_appended;
  if (appended >= T.appendedExtension.minFiles && (appended / before >= T.appendedExtension.share || appended >= T.appendedExtension.minFiles * 5)) {
    out.push({ points: T.appendedExtension.points, weak: false, group: 'rename', reason: `${appended} files (${pct(appended / before)}) replaced by a copy with an extension appended: ${Object.entries(f.appended_extensions).sort((x, y) => y[1] - x[1]).slice(0, 5).map(([e, n]) => `.${e} (${n})`).join(', ')}` });
  }
  if (f.files_ransomware_extension >= T.ransomwareExtension.minFiles) {
    out.push({ points: T.ransomwareExtension.points, weak: false, group: 'rename', reason: `${f.files_ransomware_extension} new files with a ransomware extension: ${f.ransomware_extensions.map((e) => `.${e}`).join(', ')}` });
  }
  const unseen = Object.entries(f.unseen_extensions).filter(([e, n]) => !f.ransomware_extensions.includes(e) && n >= T.unseenExtension.minFiles && n / Math.max(1, f.files_new) >= T.unseenExtension.share);
  if (unseen.length > 0) {
    out.push({ points: T.unseenExtension.points, weak: true, reason: `extensions never seen before in this source on many new files: ${unseen.map(([e, n]) => `.${e} (${n})`).join(', ')}` });
  }

  // 4. mass deletions
  const delRate = f.deletion_rate ?? 0;
  const delFloor = T.deletions.factor * (b.deletion_rate ?? 0);
  if (f.files_deleted_in_place >= T.minFiles && delRate >= Math.max(T.deletions.min, delFloor)) {
    const strong = delRate >= Math.max(T.deletions.strong, delFloor);
    out.push({ points: strong ? T.deletions.strongPoints : T.deletions.points, weak: !strong, reason: `mass deletion: ${f.files_deleted_in_place} files (${pct(delRate)}) deleted from folders that still exist vs baseline ${basePct(b.deletion_rate)}` });
  }
  if (f.files_deleted_with_folder >= T.minFiles && f.files_deleted_with_folder / before >= T.deletions.folderShare) {
    out.push({ points: T.deletions.folderPoints, weak: true, reason: `${f.files_deleted_with_folder} files (${pct(f.files_deleted_with_folder / before)}) deleted with their folders` });
  }

  // 5. ransom notes
  if (f.ransom_notes_count > 0) {
    const many = f.ransom_notes_count >= T.ransomNotes.many;
    out.push({ points: many ? T.ransomNotes.manyPoints : T.ransomNotes.points, weak: false, reason: `${f.ransom_notes_count} new file${f.ransom_notes_count > 1 ? 's' : ''} named like a ransom note: ${listed(f.ransom_notes, f.ransom_notes_count)}` });
  }

  // 6. scripts and executables in config and web folders
  if (f.scripts_added_count > 0 && !(b.scripts_added !== null && b.scripts_added > 0)) {
    out.push({ points: T.scripts.points, weak: true, reason: `${f.scripts_added_count} script${f.scripts_added_count > 1 ? 's or executables' : ' or executable'} added in config or web folders: ${listed(f.scripts_added, f.scripts_added_count)}` });
  }
  if (f.exec_bit_set_count > 0) {
    out.push({ points: T.scripts.execPoints, weak: true, reason: `exec bit newly set on ${f.exec_bit_set_count} file${f.exec_bit_set_count > 1 ? 's' : ''} in config or web folders: ${listed(f.exec_bit_set, f.exec_bit_set_count)}` });
  }

  // 7. database rows
  if (f.rows_before !== null && f.rows_after !== null && f.rows_before >= T.rows.minRows && f.rows_after <= f.rows_before * (1 - T.rows.totalDrop)) {
    out.push({ points: T.rows.totalPoints, weak: false, reason: `database rows fell ${pct(1 - f.rows_after / f.rows_before)} (${f.rows_before} → ${f.rows_after}) since the previous backup` });
  }
  if (f.tables_emptied.length > 0) {
    const n = f.tables_emptied.length;
    out.push({ points: n > 1 ? T.rows.tablesPoints : T.rows.tablePoints, weak: false, reason: `${n} table${n > 1 ? 's' : ''} lost ${pct(T.rows.tableDrop)} or more of ${n > 1 ? 'their' : 'its'} rows: ${listed(f.tables_emptied, n)}` });
  }

  // 7b. rows rewritten or deleted in place (the counts stay the same)
  const churn = f.row_churn;
  const rows = f.rows_previous;
  if (churn !== null && rows !== null && churn >= T.activity.minRows && churn >= Math.max(T.activity.share * rows, T.activity.factor * (b.row_churn ?? 0))) {
    out.push({ points: T.activity.points, weak: false, reason: `${num(churn)} rows updated or deleted since the previous backup (${pct(churn / Math.max(1, rows))} of ${num(rows)} rows) vs baseline ${b.row_churn === null ? 'none yet' : num(b.row_churn)}` });
  }

  // what an earlier suspicious snapshot left, still there
  if (f.files_carried >= T.carried.minFiles && f.carried_from !== null) {
    out.push({ points: T.carried.points, weak: false, reason: `still holds ${f.files_carried} file${f.files_carried > 1 ? 's' : ''} encrypted, renamed or dropped as of suspicious snapshot ${shortId(f.carried_from)} (not restored since)` });
  }
  return out;
}

/** 0.873 → "87%", 0.004 → "0.4%". */
export function pct(x: number): string {
  const p = x * 100;
  return p > 0 && p < 10 ? `${p.toFixed(1).replace(/\.0$/, '')}%` : `${Math.round(p)}%`;
}

/** 412000 → "412,000". */
const num = (n: number): string => Math.round(n).toLocaleString('en-US');

const basePct = (x: number | null): string => (x === null ? 'none yet' : pct(x));

function listed(paths: readonly string[], count: number): string {
  return paths.join(', ') + (count > paths.length ? `, and ${count - paths.length} more` : '');
}
