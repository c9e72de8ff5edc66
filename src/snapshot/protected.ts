/**
 * Snapshots retention never removes, whatever the policy says: those under quarantine (evidence of an attack, kept
 * for forensics) or legal hold (tags), and, per source, the newest snapshot that passed a restore drill — the last
 * backup known to restore, so a policy can never leave a source with only untested ones.
 */
import type { JournalEntryWithId } from '../journal/journal.js';
import type { SnapshotWithId } from '../repo/snapshot.js';

export const HOLD_TAGS: readonly string[] = ['quarantine', 'legal-hold'];

/** id → why it is kept. */
export function protectedSnapshots(snapshots: readonly SnapshotWithId[], journal: readonly JournalEntryWithId[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const s of snapshots) {
    const tag = s.tags.find((t) => HOLD_TAGS.includes(t));
    if (tag) out.set(s.id, `tagged ${tag}`);
  }
  const present = new Set(snapshots.map((s) => s.id));
  const lastDrilled = new Map<string, { id: string; time: string }>();
  for (const e of journal) {
    const id = e.inputs.snapshot_id;
    if (e.operation !== 'drill' || e.result !== 'ok' || typeof id !== 'string' || !present.has(id) || e.source === null) continue;
    const sn = snapshots.find((s) => s.id === id)!;
    const prev = lastDrilled.get(e.source);
    if (!prev || sn.time > prev.time) lastDrilled.set(e.source, { id, time: sn.time });
  }
  for (const { id } of lastDrilled.values()) if (!out.has(id)) out.set(id, 'last snapshot that passed a drill');
  return out;
}
