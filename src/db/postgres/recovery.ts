/**
 * Point-in-time recovery of a restored base backup: the target the user asked for, the base backup that can reach
 * it, and the recovery settings written into the restored data directory (postgresql.auto.conf, recovery.signal).
 */
import { chown, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SnapshotWithId } from '../../repo/snapshot.js';
import { UsageError } from '../../util/errors.js';
import type { PostgresPhysicalMeta } from './base-backup.js';
import { parseLsn } from './wal.js';

export type RecoveryTarget =
  | { readonly kind: 'time'; readonly time: Date }
  | { readonly kind: 'lsn'; readonly lsn: string }
  | { readonly kind: 'name'; readonly name: string }
  | { readonly kind: 'xid'; readonly xid: string }
  | { readonly kind: 'immediate' }
  /** Replay every archived WAL file (the default restore of a source with WAL archiving). */
  | { readonly kind: 'latest' };

export interface RecoveryFlags {
  targetTime?: string;
  targetLsn?: string;
  targetName?: string;
  targetXid?: string;
  target?: string;
}

/** The target of the restore flags, null when none was given; more than one is a usage error. */
export function recoveryTarget(f: RecoveryFlags): RecoveryTarget | null {
  const given = [f.targetTime, f.targetLsn, f.targetName, f.targetXid, f.target].filter((v) => v !== undefined);
  if (given.length > 1) throw new UsageError('give one recovery target: --target-time, --target-lsn, --target-name, --target-xid or --target immediate');
  if (f.targetTime !== undefined) {
    const ms = Date.parse(/[zZ]|[+-]\d\d(:?\d\d)?$/.test(f.targetTime.trim()) ? f.targetTime : `${f.targetTime.trim()}Z`);
    if (Number.isNaN(ms)) throw new UsageError(`--target-time ${JSON.stringify(f.targetTime)} is not a time: write e.g. 2026-11-29T04:12:00Z or "2026-11-29 05:12:00+01:00" (UTC when no zone is given)`);
    return { kind: 'time', time: new Date(ms) };
  }
  if (f.targetLsn !== undefined) {
    try {
      parseLsn(f.targetLsn);
    } catch (err) {
      throw new UsageError(`--target-lsn: ${(err as Error).message}`);
    }
    return { kind: 'lsn', lsn: f.targetLsn.trim().toUpperCase() };
  }
  if (f.targetName !== undefined) {
    if (f.targetName === '') throw new UsageError('--target-name needs the name of a restore point (pg_create_restore_point)');
    return { kind: 'name', name: f.targetName };
  }
  if (f.targetXid !== undefined) {
    if (!/^\d+$/.test(f.targetXid)) throw new UsageError(`--target-xid ${JSON.stringify(f.targetXid)} is not a transaction id (a number)`);
    return { kind: 'xid', xid: f.targetXid };
  }
  if (f.target !== undefined) {
    if (f.target !== 'immediate') throw new UsageError(`--target ${JSON.stringify(f.target)}: the only named target is immediate (stop as soon as the base backup is consistent)`);
    return { kind: 'immediate' };
  }
  return null;
}

export function describeTarget(t: RecoveryTarget): string {
  switch (t.kind) {
    case 'time':
      return `time ${t.time.toISOString()}`;
    case 'lsn':
      return `LSN ${t.lsn}`;
    case 'name':
      return `restore point ${JSON.stringify(t.name)}`;
    case 'xid':
      return `transaction ${t.xid}`;
    case 'immediate':
      return 'the end of the base backup';
    case 'latest':
      return 'the end of the archived WAL';
  }
}

function metaOf(s: SnapshotWithId): PostgresPhysicalMeta {
  return s.meta as unknown as PostgresPhysicalMeta;
}

/**
 * The newest base backup that can reach the target: one that became consistent before it (time: stopped before;
 * LSN: stop LSN at or before; a restore point safepoint made: same). Names safepoint did not make, transaction ids,
 * `immediate` and `latest` take the newest backup. `bases` are oldest first.
 */
export function chooseBase(bases: readonly SnapshotWithId[], t: RecoveryTarget): SnapshotWithId | null {
  const usable = bases.filter((s) => s.complete && metaOf(s).stop_lsn !== null);
  const before = (pred: (m: PostgresPhysicalMeta) => boolean): SnapshotWithId | null => usable.filter((s) => pred(metaOf(s))).at(-1) ?? null;
  switch (t.kind) {
    case 'time':
      return before((m) => m.stop_time !== null && Date.parse(m.stop_time) <= t.time.getTime());
    case 'lsn':
      return before((m) => parseLsn(m.stop_lsn!) <= parseLsn(t.lsn));
    case 'name': {
      const point = usable.map((s) => metaOf(s).restore_point).find((p) => p?.name === t.name);
      if (point) return before((m) => parseLsn(m.stop_lsn!) <= parseLsn(point.lsn));
      return usable.at(-1) ?? null;
    }
    default:
      return usable.at(-1) ?? null;
  }
}

/** A value for postgresql.conf: single-quoted, quotes doubled. */
export function confString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/** The settings of a recovery to `t` (restore_command when the WAL comes from the archive). */
export function recoverySettings(t: RecoveryTarget, restoreCommand: string | null): string[] {
  const lines: string[] = [];
  if (restoreCommand !== null) lines.push(`restore_command = ${confString(restoreCommand)}`);
  switch (t.kind) {
    case 'time':
      lines.push(`recovery_target_time = ${confString(t.time.toISOString().replace('T', ' ').replace('Z', '+00'))}`);
      break;
    case 'lsn':
      lines.push(`recovery_target_lsn = ${confString(t.lsn)}`);
      break;
    case 'name':
      lines.push(`recovery_target_name = ${confString(t.name)}`);
      break;
    case 'xid':
      lines.push(`recovery_target_xid = ${confString(t.xid)}`);
      break;
    case 'immediate':
      lines.push(`recovery_target = 'immediate'`);
      break;
    case 'latest':
      break;
  }
  // at the target: become a primary on a new timeline (the default, pause, would leave a read-only server waiting)
  if (t.kind !== 'latest') lines.push(`recovery_target_action = 'promote'`);
  return lines;
}

const BEGIN = '# --- safepoint restore: recovery settings (removed by the next safepoint restore) ---';
const END = '# --- end of safepoint recovery settings ---';

/**
 * Writes settings into `dir`/postgresql.auto.conf (replacing those of an earlier safepoint restore, keeping
 * everything else) and, for a recovery, creates recovery.signal; both belong to the data directory's owner.
 */
export async function writeRecovery(dir: string, settings: readonly string[], signal: boolean): Promise<void> {
  const conf = join(dir, 'postgresql.auto.conf');
  const owner = await stat(join(dir, 'PG_VERSION'));
  let text = await readFile(conf, 'utf8').catch(() => '# Do not edit this file manually!\n# It will be overwritten by the ALTER SYSTEM command.\n');
  const a = text.indexOf(BEGIN);
  const b = text.indexOf(END);
  if (a >= 0 && b > a) text = text.slice(0, a) + text.slice(b + END.length).replace(/^\n/, '');
  if (!text.endsWith('\n')) text += '\n';
  text += `${BEGIN}\n${settings.join('\n')}\n${END}\n`;
  await writeFile(conf, text, { mode: 0o600 });
  if (signal) await writeFile(join(dir, 'recovery.signal'), '', { mode: 0o600 });
  if (process.getuid?.() === 0) {
    await chown(conf, owner.uid, owner.gid);
    if (signal) await chown(join(dir, 'recovery.signal'), owner.uid, owner.gid);
  }
}
