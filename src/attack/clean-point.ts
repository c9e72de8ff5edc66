/**
 * The last clean point of a source after an attack (mission: "restore the system to a clean state from before the
 * attack"): the newest complete backup finished before the compromise that the anomaly scan does not flag and whose
 * every byte still reads back and authenticates. Attackers are often in before they are noticed: a snapshot before
 * the given time that the scan flags is passed over like the ones after it.
 */
import type { SnapshotWithId } from '../repo/snapshot.js';
import type { ScanResult } from '../scan/index.js';
import { shortId } from '../repo/ids.js';

export interface Rejected {
  readonly id: string;
  readonly time: string;
  readonly why: string;
}

export interface CleanChoice {
  readonly snapshot: SnapshotWithId | null;
  /** Newer candidates passed over, newest first, with the reason. */
  readonly rejected: Rejected[];
}

/**
 * `points`: the source's restore points (complete, not safety or quarantine copies), oldest first. `verify` reads a
 * snapshot's data back and says what is wrong with it (null when whole). `accepted`: ids the user vouches for despite
 * a scan flag (a false positive).
 */
export async function lastCleanSnapshot(points: readonly SnapshotWithId[], scan: readonly ScanResult[], compromisedAt: Date, verify: (s: SnapshotWithId) => Promise<string | null>, accepted: ReadonlySet<string> = new Set()): Promise<CleanChoice> {
  const flagged = new Map(scan.filter((r) => r.suspicious).map((r) => [r.snapshot_id, r]));
  const rejected: Rejected[] = [];
  const before = points.filter((s) => Date.parse(s.summary.backup_end) <= compromisedAt.getTime());
  for (const s of points.filter((p) => !before.includes(p)).reverse()) rejected.push({ id: s.id, time: s.time, why: `finished after the compromise (${s.summary.backup_end})` });
  for (const s of [...before].reverse()) {
    const f = flagged.get(s.id);
    if (f && !accepted.has(s.id)) {
      rejected.push({ id: s.id, time: s.time, why: `flagged by the anomaly scan (score ${f.score.toFixed(2)}: ${f.reasons.slice(0, 2).join('; ')}); --accept ${shortId(s.id)} overrules` });
      continue;
    }
    const problem = await verify(s);
    if (problem !== null) {
      rejected.push({ id: s.id, time: s.time, why: `does not read back whole: ${problem}` });
      continue;
    }
    return { snapshot: s, rejected };
  }
  return { snapshot: null, rejected };
}
