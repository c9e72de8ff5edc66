/**
 * What every database source (SQLite, PostgreSQL, MariaDB) provides to the backup command and to the restore
 * procedure (src/restore/): back up into a snapshot of streams, restore a snapshot with the database's own tools,
 * and verify the result. The procedure around them (stop services, safety backup, restart, health) is shared.
 */
import type { Repository } from '../repo/repository.js';
import type { BackupType, Snapshot } from '../repo/snapshot.js';
import type { RecoveryTarget } from './postgres/recovery.js';
import type { StreamBackupOptions } from '../snapshot/stream-backup.js';

export interface DbBackupOptions {
  readonly tags?: readonly string[];
  readonly type?: BackupType;
  readonly onProgress?: (bytes: number) => void;
  readonly signal?: AbortSignal;
}

/** Where a restore goes: in place (the configured database / file), or somewhere else. */
export interface DbRestoreTarget {
  /**
   * SQLite: a file path. PostgreSQL / MariaDB (logical): a database name on the configured server. Absent: the
   * source's own database or file (in place).
   */
  readonly into?: string;
  /** PostgreSQL physical: where recovery stops (point in time, LSN, restore point, xid, immediate, latest). */
  readonly recovery?: RecoveryTarget;
  /** PostgreSQL physical: the restore_command written into the recovery settings (safepoint pg archive-get). */
  readonly restoreCommand?: string;
  /** `--start`: start a server on the restored copy (on this port) once it is verified. */
  readonly start?: boolean;
  readonly port?: number;
}

export interface DbCheck {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

export interface DbRestoreResult {
  /** What was written, for messages: a file path or `postgres://host:port/db`. */
  readonly target: string;
  readonly bytes: number;
  /** What the user should know (e.g. where the replaced database was kept). */
  readonly notes?: readonly string[];
}

export interface DatabaseDriver<S> {
  /** A human-readable location of the live database, without secrets (e.g. `postgres://127.0.0.1:5432/shop`). */
  describe(source: S): string;
  /** Backs the database up into one snapshot (source name, type, meta filled in). */
  backup(repo: Repository, source: S, o: DbBackupOptions): Promise<{ snapshotId: string; snapshot: Snapshot }>;
  /** Whether the target holds live data a restore would overwrite (the procedure then needs a safety backup and --force). */
  exists(source: S, target: DbRestoreTarget): Promise<boolean>;
  /** Restores a snapshot made by `backup` with the database's own tools. */
  restore(repo: Repository, snapshot: Snapshot, source: S, target: DbRestoreTarget, o: { signal?: AbortSignal }): Promise<DbRestoreResult>;
  /**
   * Verifies the restored database: it opens / the server answers; the engine's own integrity check; the per-table
   * row counts recorded at backup time (snapshot.meta) match; the source's SQL `checks` hold.
   */
  verify(source: S, snapshot: Snapshot, target: DbRestoreTarget): Promise<DbCheck[]>;
  /**
   * True when `restore` keeps what it replaces (moved aside, unchanged) instead of needing a safety backup: a base
   * backup cannot be taken of a server the procedure has stopped.
   */
  readonly movesAside?: boolean;
  /** `--start`: starts a server on a copy restored with `into`; resolves with what to tell the user. */
  startRestored?(source: S, target: DbRestoreTarget): Promise<string>;
}

/**
 * The snapshot every database backup records: a full snapshot of the source, tagged with the source's tags and the
 * caller's, located at `location`. `meta` is kept by reference: a driver may complete it until the last stream ends.
 */
export function dbSnapshotOptions(source: { readonly name: string; readonly tags: readonly string[] }, o: DbBackupOptions, meta: Record<string, unknown>, location: string): StreamBackupOptions {
  return {
    source: source.name,
    type: 'full',
    tags: [...new Set([...source.tags, ...(o.tags ?? [])])],
    meta,
    paths: [location],
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
  };
}
