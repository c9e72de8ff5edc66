/**
 * One restore drill of one source (mission: "restore procedures tested regularly in an isolated environment"):
 * restore a snapshot into a sandbox that production never sees, verify it as the restore procedure does, run the
 * user's checks against it, and measure the real time it took against the RTO.
 *
 * The sandbox per source type: a folder for files and SQLite; a data directory and a verify server on a free
 * loopback port for PostgreSQL / MariaDB physical copies (the driver's own `into` restore); a throwaway server
 * (src/sandbox/) for logical dumps, which need a server to load into. Nothing is written to the live database, its
 * server or the live files.
 */
import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import type { SourceConfig } from '../config/schema-sources.js';
import type { DbCheck, DbRestoreTarget } from '../db/driver.js';
import { driverFor, isDatabaseSource } from '../db/drivers.js';
import type { Repository } from '../repo/repository.js';
import type { SnapshotWithId } from '../repo/snapshot.js';
import type { RecoveryTarget } from '../db/postgres/recovery.js';
import { restoreTree } from '../snapshot/restorer.js';
import { runCommand } from '../restore/services.js';
import { errorMessage } from '../util/errors.js';

export interface DrillRequest {
  readonly repo: Repository;
  readonly source: SourceConfig;
  readonly snapshot: SnapshotWithId;
  /** The sandbox folder of this source (created; removed by the caller). */
  readonly dir: string;
  /** PostgreSQL physical: how far recovery goes (latest archived WAL, a restore point's name...). */
  readonly recovery?: RecoveryTarget;
  /** PostgreSQL physical with WAL archiving: the restore_command fetching WAL from the repository. */
  readonly restoreCommand?: string;
  /** Registers a teardown to run when the drill ends or is interrupted (throwaway servers). */
  readonly onTeardown: (fn: () => Promise<void>) => void;
  /** Aborted when the drill is interrupted: a sandbox server being started and the user's checks stop. */
  readonly signal?: AbortSignal;
}

/**
 * The environment of the user's checks: this process's, without what would point a client at production (PGHOST,
 * PGPORT, MYSQL_HOST... of the shell that started the drill), then the sandbox's own.
 */
function checkEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(PG|MYSQL|MARIADB)/.test(k)));
  return { ...env, ...extra };
}

export interface DrillOutcome {
  readonly checks: DbCheck[];
  /** Where the copy was restored: a folder, a file or a sandbox server's address. */
  readonly where: string;
  readonly bytes: number;
}

/** Restores and verifies one snapshot in the sandbox; the checks say what held. Throws only when nothing could be restored. */
export async function drillSource(r: DrillRequest): Promise<DrillOutcome> {
  // traversable by the OS user a restored server runs as (postgres, mysql), not listable
  await mkdir(r.dir, { recursive: true, mode: 0o711 });
  const out = r.source.type === 'files' ? await drillFiles(r) : await drillDatabase(r);
  for (const c of r.source.checks) {
    if (!('command' in c)) continue;
    try {
      await runCommand(c.command, { cwd: r.dir, env: checkEnv({ ...out.env, SAFEPOINT_RESTORED: out.where, SAFEPOINT_DRILL: '1' }), ...(r.signal ? { signal: r.signal } : {}) });
      out.checks.push({ name: c.command, ok: true, detail: 'exit 0' });
    } catch (err) {
      out.checks.push({ name: c.command, ok: false, detail: errorMessage(err) });
    }
  }
  return { checks: out.checks, where: out.where, bytes: out.bytes };
}

interface Restored extends DrillOutcome {
  /** Environment for the user's commands, pointing them at the copy (PGHOST, PGPORT...). */
  readonly env: Record<string, string>;
}

/** Files: restore the tree, re-read every file and compare it with the snapshot's content hashes. */
async function drillFiles(r: DrillRequest): Promise<Restored> {
  const where = join(r.dir, 'files');
  await r.repo.loadIndex();
  const res = await restoreTree(r.repo, r.snapshot.tree, { target: where, verify: true });
  const checks: DbCheck[] = [
    { name: 'files restored', ok: res.errors.length === 0, detail: res.errors.length === 0 ? `${res.files} files, ${res.dirs} folders` : `${res.errors.length} entries failed, first: ${res.errors[0]}` },
    { name: 'file hashes match the snapshot', ok: res.verified === res.files && res.errors.length === 0, detail: `${res.verified} of ${res.files} files re-read and matched` },
  ];
  return { checks, where, bytes: res.bytes, env: {} };
}

async function drillDatabase(r: DrillRequest): Promise<Restored> {
  const source = r.source;
  if (!isDatabaseSource(source)) throw new Error(`source ${source.name} is not a database`);
  const driver = await driverFor(source);
  if (source.type === 'sqlite' || source.mode === 'physical') {
    const into = join(r.dir, source.type === 'sqlite' ? `${source.name}.db` : 'data');
    const target: DbRestoreTarget = {
      into,
      ...(r.recovery ? { recovery: r.recovery } : {}),
      ...(r.restoreCommand ? { restoreCommand: r.restoreCommand } : {}),
    };
    const done = await driver.restore(r.repo, r.snapshot, source, target, {});
    return { checks: await driver.verify(source, r.snapshot, target), where: done.target, bytes: done.bytes, env: {} };
  }
  // a dump needs a server to load into: a throwaway one, never the production server
  const { startDatabaseSandbox } = await import('../sandbox/index.js');
  const sandbox = await startDatabaseSandbox(source, r.signal ? { signal: r.signal } : {});
  r.onTeardown(() => sandbox.stop());
  const done = await driver.restore(r.repo, r.snapshot, sandbox.source, {}, {});
  const checks = await driver.verify(sandbox.source, r.snapshot, {});
  const conn = sandbox.source.connection;
  const env: Record<string, string> = source.type === 'postgres'
    ? { PGHOST: conn.host ?? '127.0.0.1', PGPORT: String(conn.port), PGDATABASE: conn.database, ...(conn.user ? { PGUSER: conn.user } : {}) }
    : { MYSQL_HOST: conn.host ?? '127.0.0.1', MYSQL_TCP_PORT: String(conn.port), ...(conn.user ? { MYSQL_USER: conn.user } : {}) };
  return { checks, where: sandbox.where, bytes: done.bytes, env };
}
