/**
 * PostgreSQL logical backups: pg_dump (custom format) streamed into the repository, restored with pg_restore into a
 * new database or next to the existing one and swapped in by renaming, verified with amcheck, row counts and the
 * source's SQL checks.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { PostgresSource } from '../../config/schema-sources.js';
import type { Repository } from '../../repo/repository.js';
import type { Snapshot } from '../../repo/snapshot.js';
import { backupStreams, readStream, type StreamEntry } from '../../snapshot/stream-backup.js';
import { systemClock } from '../../util/clock.js';
import { UserError, errorMessage } from '../../util/errors.js';
import { dbSnapshotOptions, type DatabaseDriver, type DbBackupOptions, type DbCheck, type DbRestoreResult, type DbRestoreTarget } from '../driver.js';
import { PgToolError, PsqlSession, psql, runTool, toolStream, type PgToolsConfig } from './pg-tools.js';
import { TABLE_COUNTS_SQL, createDatabaseSql, databaseOptionsSql, databaseSettingsSql, quoteIdent, quoteLiteral, tocOwners, withSuffix, type DatabaseOptions } from './pg-sql.js';

/** What a logical backup records in snapshot.meta. */
export interface PostgresLogicalMeta {
  readonly kind: 'postgres';
  readonly mode: 'logical';
  readonly format: 'custom';
  readonly database: string;
  /** Name of the pg_dump stream in the snapshot (`<database>.pgdump`). */
  readonly dump: string;
  /** Name of the pg_dumpall --globals-only stream, or null when it could not be made (see warnings). */
  readonly globals: string | null;
  readonly server_version: string;
  readonly server_version_num: number;
  readonly pg_dump_version: string;
  /** Exact row counts, `schema.table` → rows, read in the very snapshot pg_dump dumped. */
  readonly tables: Record<string, number>;
  readonly database_options: DatabaseOptions;
  /** Cumulative row counters per table at backup time, for the anomaly scan; absent when they could not be read. */
  readonly table_activity?: Record<string, TableActivity>;
  /** pg_stat_database.stats_reset of the database (ISO, UTC): the counters restarted from zero then. */
  readonly stats_reset?: string | null;
  readonly warnings: readonly string[];
}

/**
 * A table's cumulative row counters (pg_stat_user_tables): rows inserted, updated (HOT updates included: n_tup_hot_upd
 * is a subset of n_tup_upd) and deleted since the statistics were last reset, and the server's estimate of its live
 * rows (n_live_tup). The anomaly scan compares them between backups (docs/scan.md).
 */
export interface TableActivity {
  readonly ins: number;
  readonly upd: number;
  readonly del: number;
  readonly live: number;
}

/**
 * One row, one JSON object `{ "stats_reset": ISO | null, "tables": { "schema.table": TableActivity } }` for the
 * current database: the tables TABLE_COUNTS_SQL counts (ordinary, not temporary, not of extensions or system schemas).
 */
const TABLE_ACTIVITY_SQL = `SELECT json_build_object(
  'stats_reset', (SELECT to_char(d.stats_reset AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') FROM pg_catalog.pg_stat_database d WHERE d.datname = current_database()),
  'tables', (SELECT coalesce(json_object_agg(s.schemaname || '.' || s.relname, json_build_object('ins', s.n_tup_ins, 'upd', s.n_tup_upd, 'del', s.n_tup_del, 'live', s.n_live_tup) ORDER BY s.schemaname, s.relname), '{}'::json)
    FROM pg_catalog.pg_stat_user_tables s JOIN pg_catalog.pg_class c ON c.oid = s.relid
    WHERE c.relkind = 'r' AND c.relpersistence <> 't' AND s.schemaname <> 'information_schema' AND s.schemaname NOT LIKE 'pg\\_%'
      AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend p WHERE p.classid = 'pg_catalog.pg_class'::regclass AND p.objid = c.oid AND p.deptype = 'e')));`;

/**
 * Reads the row counters of the session's database (one query). Never fails the backup: on any error the counters are
 * left out and a warning says why. psql stops at the first error otherwise, which would end the session (and, for a
 * logical backup, the exported snapshot pg_dump reads): errors are let through for this query only, and inside a
 * transaction a savepoint keeps a failed query from aborting it.
 */
export async function readTableActivity(session: PsqlSession, warnings: string[], inTransaction: boolean): Promise<{ table_activity: Record<string, TableActivity>; stats_reset: string | null } | null> {
  const sql = inTransaction ? `SAVEPOINT activity;\n${TABLE_ACTIVITY_SQL}\nROLLBACK TO SAVEPOINT activity;` : TABLE_ACTIVITY_SQL;
  try {
    const [[json] = []] = await session.query(`\\set ON_ERROR_STOP off\n${sql}\n\\set ON_ERROR_STOP on`);
    if (!json) throw new Error('the query failed (the server log says why)');
    const v = JSON.parse(json) as { stats_reset: string | null; tables: Record<string, TableActivity> };
    return { table_activity: v.tables, stats_reset: v.stats_reset };
  } catch (err) {
    warnings.push(`table activity (pg_stat_user_tables) not recorded: ${errorMessage(err)}; the scan cannot see mass updates or deletions in this backup`);
    return null;
  }
}

export interface PostgresRestoreResult extends DbRestoreResult {
  /** REPLACE: the name the database had before was given to this one, kept with its data (nothing is dropped). */
  readonly previous?: string;
  /** What the restore did beyond the obvious, for the user (kept database, owners left out...). */
  readonly notes: readonly string[];
}

export interface PostgresLogicalDriver extends DatabaseDriver<PostgresSource> {
  restore(repo: Repository, snapshot: Snapshot, source: PostgresSource, target: DbRestoreTarget, o: { signal?: AbortSignal }): Promise<PostgresRestoreResult>;
}

/** `postgres://host:port/db`, no user or password; a socket folder is percent-encoded as libpq URIs write it. */
export function describePostgres(source: PgToolsConfig, database = source.connection.database): string {
  const h = source.connection.host ?? 'localhost';
  const host = h.startsWith('/') ? encodeURIComponent(h) : h.includes(':') && !h.startsWith('[') ? `[${h}]` : h;
  return `postgres://${host}:${source.connection.port}/${encodeURIComponent(database)}`;
}

/** Runs SQL in a maintenance database (postgres, else template1) for statements about other databases. */
async function admin(source: PgToolsConfig, sql: string, signal?: AbortSignal): Promise<string[][]> {
  try {
    return await psql(source, 'postgres', sql, signal ? { signal } : {});
  } catch (err) {
    if (!(err instanceof PgToolError) || !/database "postgres" does not exist/.test(err.stderr)) throw err;
    return psql(source, 'template1', sql, signal ? { signal } : {});
  }
}

async function databaseExists(source: PgToolsConfig, name: string): Promise<boolean> {
  return (await admin(source, `SELECT 1 FROM pg_catalog.pg_database WHERE datname = ${quoteLiteral(name)};`)).length > 0;
}

/** The snapshot's meta, checked to be a logical PostgreSQL backup. */
export function logicalMeta(snapshot: Snapshot): PostgresLogicalMeta {
  const m = snapshot.meta;
  if (!m || m.kind !== 'postgres' || m.mode !== 'logical' || typeof m.dump !== 'string') {
    throw new UserError(`this snapshot is not a PostgreSQL logical backup (meta kind ${JSON.stringify(m?.kind)}, mode ${JSON.stringify(m?.mode)}): restore it with the driver that made it`);
  }
  return m as unknown as PostgresLogicalMeta;
}

async function* once(data: Buffer): AsyncGenerator<Buffer> {
  yield data;
}

/** pg_dumpall --globals-only; without superuser rights its failure is a warning, not a failed backup. */
async function dumpGlobals(source: PostgresSource, superuser: boolean, warnings: string[], signal?: AbortSignal): Promise<Buffer | null> {
  try {
    return await runTool(source, 'pg_dumpall', ['-w', '--globals-only', '--no-role-passwords'], { database: source.connection.database, what: 'pg_dumpall --globals-only', ...(signal ? { signal } : {}) });
  } catch (err) {
    if (superuser || !(err instanceof PgToolError)) throw err;
    warnings.push(`roles and tablespaces not saved (globals.sql): ${err.message}; this needs a superuser`);
    return null;
  }
}

async function backup(repo: Repository, source: PostgresSource, o: DbBackupOptions): Promise<{ snapshotId: string; snapshot: Snapshot }> {
  if (o.type !== undefined && o.type !== 'full') {
    throw new UserError(`PostgreSQL logical backups (pg_dump) are always full, not ${o.type}: deduplication already stores only what changed; use mode: physical for differential and incremental backups`);
  }
  const database = source.connection.database;
  const signal = o.signal;
  const so = signal ? { signal } : {};
  const pgDumpVersion = (await runTool(source, 'pg_dump', ['--version'], { database, ...so })).toString('utf8').trim();
  // One transaction exports the snapshot pg_dump reads (--snapshot), so the row counts taken in it describe exactly
  // the rows in the dump, however busy the database is. The counts run in a savepoint rolled back at once: that
  // releases their table locks, which would otherwise deadlock (undetected, we are a client) with a DDL statement
  // queued between them and pg_dump's own locks. The exported snapshot lives until the transaction ends.
  const session = await PsqlSession.open(source, database, so);
  try {
    const [first] = await session.query(
      "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;\nSELECT pg_catalog.pg_export_snapshot(), current_setting('server_version'), current_setting('server_version_num'), (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user);",
    );
    const [snapshotName, serverVersion, versionNum, superuser] = first ?? [];
    if (!snapshotName || !serverVersion || !versionNum) throw new Error('psql returned no exported snapshot');
    const [[options] = []] = await session.query(databaseOptionsSql(Number(versionNum)));
    const [[counts] = []] = await session.query(`SAVEPOINT counts;\n${TABLE_COUNTS_SQL}\nROLLBACK TO SAVEPOINT counts;`);
    const warnings: string[] = [];
    const activity = await readTableActivity(session, warnings, true);
    const globals = await dumpGlobals(source, superuser === 't', warnings, signal);
    const dumpName = `${database.replace(/[/\0]/g, '_')}.pgdump`;
    const meta: PostgresLogicalMeta = {
      kind: 'postgres',
      mode: 'logical',
      format: 'custom',
      database,
      dump: dumpName,
      globals: globals ? 'globals.sql' : null,
      server_version: serverVersion,
      server_version_num: Number(versionNum),
      pg_dump_version: pgDumpVersion,
      tables: JSON.parse(counts ?? '{}') as Record<string, number>,
      database_options: JSON.parse(options ?? 'null') as DatabaseOptions,
      ...activity,
      warnings,
    };
    const entries: StreamEntry[] = [
      // -Z0: no compression. pg_dump compresses each table's data as one zlib stream, whose bytes all change after
      // the first changed row, so a compressed dump shares almost nothing with yesterday's and every backup would
      // be stored whole. Uncompressed, unchanged tables (and unchanged stretches of changed ones) come out
      // byte-identical and deduplicate; the repository compresses the chunks that are new.
      { name: dumpName, data: toolStream(source, 'pg_dump', ['-w', '-Fc', '-Z0', `--snapshot=${snapshotName}`], { database, what: `pg_dump of database ${JSON.stringify(database)}`, ...so }) },
      ...(globals ? [{ name: 'globals.sql', data: once(globals) }] : []),
    ];
    const result = await backupStreams(repo, entries, dbSnapshotOptions(source, o, meta as unknown as Record<string, unknown>, describePostgres(source)));
    return result; // closing the session ends the read-only transaction
  } finally {
    await session.close();
  }
}

/** Writes a snapshot's stream to a new private file; resolves with its size. */
async function saveToFile(stream: AsyncIterable<Buffer>, file: string, signal?: AbortSignal): Promise<number> {
  let bytes = 0;
  const count = new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  await pipeline(stream, count, createWriteStream(file, { mode: 0o600, flags: 'wx' }), ...(signal ? [{ signal }] : []));
  return bytes;
}

function timestamp(d: Date): string {
  return d.toISOString().slice(0, 19).replace(/-|:/g, '').replace('T', '_');
}

/** Gives `restored` the name `name`, keeping the database that had it as `previous`; no one stays connected to it. */
async function swap(source: PgToolsConfig, name: string, restored: string, previous: string, signal?: AbortSignal): Promise<void> {
  const [[allow] = []] = await admin(source, `SELECT datallowconn FROM pg_catalog.pg_database WHERE datname = ${quoteLiteral(name)};`, signal);
  try {
    // no new sessions, then end the open ones: RENAME refuses while anyone is connected
    await admin(source, `ALTER DATABASE ${quoteIdent(name)} ALLOW_CONNECTIONS false;
SELECT count(pg_catalog.pg_terminate_backend(pid)) FROM pg_catalog.pg_stat_activity WHERE datname = ${quoteLiteral(name)} AND pid <> pg_catalog.pg_backend_pid();`, signal);
    // one transaction: either both names change or neither
    await admin(source, `BEGIN;
ALTER DATABASE ${quoteIdent(name)} RENAME TO ${quoteIdent(previous)};
ALTER DATABASE ${quoteIdent(restored)} RENAME TO ${quoteIdent(name)};
ALTER DATABASE ${quoteIdent(previous)} ALLOW_CONNECTIONS ${allow === 'f' ? 'false' : 'true'};
COMMIT;`, signal);
  } catch (err) {
    await admin(source, `ALTER DATABASE ${quoteIdent(name)} ALLOW_CONNECTIONS ${allow === 'f' ? 'false' : 'true'};`).catch(() => undefined);
    throw err;
  }
}

async function restore(repo: Repository, snapshot: Snapshot, source: PostgresSource, target: DbRestoreTarget, o: { signal?: AbortSignal }): Promise<PostgresRestoreResult> {
  const meta = logicalMeta(snapshot);
  const signal = o.signal;
  const so = signal ? { signal } : {};
  const name = target.into ?? source.connection.database;
  const notes: string[] = [];
  // pg_restore -j needs a seekable file; private folder (mkdtemp: 0700) and file (0600), removed after
  const dir = await mkdtemp(join(tmpdir(), 'safepoint-pg-'));
  try {
    const file = join(dir, 'restore.pgdump');
    const bytes = await saveToFile(readStream(repo, snapshot, meta.dump), file, signal);
    const options = meta.database_options as DatabaseOptions | undefined;
    const ownerName = options ? quoteLiteral(options.owner) : 'NULL';
    const [[versionNum = '0', roleList = '[]', exists = 'f', canOwn = 'f'] = []] = await admin(
      source,
      `SELECT current_setting('server_version_num'), (SELECT json_agg(rolname) FROM pg_catalog.pg_roles),
  EXISTS (SELECT 1 FROM pg_catalog.pg_database WHERE datname = ${quoteLiteral(name)}),
  coalesce((SELECT pg_catalog.pg_has_role(rolname, 'MEMBER') FROM pg_catalog.pg_roles WHERE rolname = ${ownerName}), false);`,
      signal,
    );
    const roles = new Set(JSON.parse(roleList) as string[]);
    const listing = (await runTool(source, 'pg_restore', ['-l', file], { database: name, what: 'pg_restore -l', ...so })).toString('utf8');
    const missing = [...tocOwners(listing)].filter((r) => !roles.has(r));
    if (missing.length > 0) notes.push(`roles ${missing.join(', ')} do not exist on this server: objects are owned by the restoring user and privileges are left out (the snapshot's globals.sql holds the roles)`);
    const owner = canOwn === 't';
    if (options && !owner) notes.push(`the database is owned by the restoring user: role ${options.owner} is missing or not granted to it`);

    const existed = exists === 't';
    // always restored under a temporary name first: the target name only ever shows a complete restore
    const into = withSuffix(name, `__restore_${randomBytes(4).toString('hex')}`);
    const dropInto = `DROP DATABASE IF EXISTS ${quoteIdent(into)}${Number(versionNum) >= 130000 ? ' WITH (FORCE)' : ''};`;
    await admin(source, createDatabaseSql(into, options, Number(versionNum), owner), signal);
    try {
      const jobs = Math.max(1, Math.min(4, availableParallelism()));
      const args = ['-w', '--exit-on-error', '-j', String(jobs), ...(missing.length > 0 ? ['--no-owner', '--no-privileges'] : []), '-d', conninfo(into), file];
      await runTool(source, 'pg_restore', args, { database: into, what: `pg_restore into database ${JSON.stringify(into)}`, ...so }).catch((err: unknown) => {
        if (err instanceof PgToolError && /role ".*" does not exist/.test(err.stderr)) {
          throw new UserError(`${err.message} (create the missing roles first: the snapshot's globals.sql holds them)`, { cause: err });
        }
        throw err;
      });
      if (options && options.settings.length > 0) await admin(source, databaseSettingsSql(into, options.settings), signal);
    } catch (err) {
      // our own half-restored database: nothing of the user's is lost by dropping it
      await admin(source, dropInto).catch(() => undefined);
      throw err;
    }
    if (!existed) {
      try {
        await admin(source, `ALTER DATABASE ${quoteIdent(into)} RENAME TO ${quoteIdent(name)};`, signal);
      } catch (err) {
        await admin(source, dropInto).catch(() => undefined);
        throw err;
      }
      return { target: describePostgres(source, name), bytes, notes };
    }

    let previous = withSuffix(name, `__before_${timestamp(systemClock.now())}`);
    if (await databaseExists(source, previous)) previous = withSuffix(name, `__before_${timestamp(systemClock.now())}_${randomBytes(2).toString('hex')}`);
    try {
      await swap(source, name, into, previous, signal);
    } catch (err) {
      await admin(source, dropInto).catch(() => undefined);
      throw err;
    }
    notes.push(`the database that was ${name} is kept, unchanged, as ${previous} (drop it when no longer needed)`);
    return { target: describePostgres(source, name), bytes, previous, notes };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A libpq connection string naming only the database (a bare name with `=` would be read as one). */
function conninfo(database: string): string {
  return `dbname='${database.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** psql's text for a boolean / value: true unless empty, false, 0, no or off. */
export function truthy(v: string | undefined): boolean {
  return v !== undefined && v !== '' && !/^(f|false|0|no|off|n)$/i.test(v.trim());
}

/** bt_index_check (with heapallindexed) of every valid btree index, from amcheck installed in `schema`. */
function indexCheckSql(schema: string): string {
  return `SELECT n.nspname IN ('pg_catalog', 'information_schema') OR n.nspname LIKE 'pg\\_toast%', ${quoteIdent(schema)}.bt_index_check(c.oid, true)
  FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid JOIN pg_catalog.pg_am a ON a.oid = c.relam
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE a.amname = 'btree' AND c.relpersistence <> 't' AND i.indisvalid AND i.indisready ORDER BY 1;`;
}

async function amcheck(source: PgToolsConfig, db: string): Promise<DbCheck> {
  const name = 'amcheck';
  const [[available] = []] = await psql(source, db, "SELECT count(*) > 0 FROM pg_catalog.pg_available_extensions WHERE name = 'amcheck';");
  if (available !== 't') return { name, ok: true, detail: 'amcheck not available (install the PostgreSQL contrib package to check indexes)' };
  const [[schema] = []] = await psql(source, db, "SELECT n.nspname FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'amcheck';");
  // not installed: created in a transaction that is rolled back, so the restored database is left as it was
  const tmp = 'safepoint_amcheck';
  const install = `CREATE SCHEMA ${tmp};\nCREATE EXTENSION amcheck SCHEMA ${tmp};\n`;
  if (schema === undefined) {
    try {
      await psql(source, db, `BEGIN;\n${install}ROLLBACK;`);
    } catch (err) {
      return { name, ok: true, detail: `amcheck not available: ${errorMessage(err)}` };
    }
  }
  try {
    const rows = await psql(source, db, `BEGIN;\n${schema === undefined ? install : ''}${indexCheckSql(schema ?? tmp)}\nROLLBACK;`);
    const system = rows.filter((r) => r[0] === 't').length;
    return { name, ok: true, detail: `${rows.length - system} btree indexes of user tables and ${system} of the system catalogs checked (bt_index_check with heapallindexed)` };
  } catch (err) {
    return { name, ok: false, detail: errorMessage(err) };
  }
}

/** Compares the row counts recorded at backup time with the database's. */
export function compareCounts(expected: Record<string, number>, actual: Record<string, number>): DbCheck {
  const problems: string[] = [];
  for (const [t, n] of Object.entries(expected)) {
    const got = actual[t];
    if (got === undefined) problems.push(`${t} is missing`);
    else if (Number(got) !== Number(n)) problems.push(`${t} has ${got} rows, expected ${n}`);
  }
  for (const t of Object.keys(actual)) if (!(t in expected)) problems.push(`${t} was not in the backup`);
  const n = Object.keys(expected).length;
  if (problems.length === 0) return { name: 'row counts', ok: true, detail: `${n} tables match the backup` };
  const more = problems.length > 5 ? ` (and ${problems.length - 5} more)` : '';
  return { name: 'row counts', ok: false, detail: `differ from the backup: ${problems.slice(0, 5).join('; ')}${more}` };
}

async function verify(source: PostgresSource, snapshot: Snapshot, target: DbRestoreTarget): Promise<DbCheck[]> {
  const db = target.into ?? source.connection.database;
  const meta = logicalMeta(snapshot);
  const sqlChecks = source.checks.flatMap((c) => ('sql' in c ? [c.sql] : []));
  const checks: DbCheck[] = [];
  try {
    const [[version] = []] = await psql(source, db, "SELECT current_setting('server_version');");
    checks.push({ name: 'server answers', ok: true, detail: `${describePostgres(source, db)}: PostgreSQL ${version}` });
  } catch (err) {
    checks.push({ name: 'server answers', ok: false, detail: errorMessage(err) });
    const notRun = 'not run: the server does not answer';
    return [...checks, ...['amcheck', 'row counts', ...sqlChecks.map((s) => `sql: ${s}`)].map((name) => ({ name, ok: false, detail: notRun }))];
  }
  checks.push(await amcheck(source, db));
  try {
    if (!meta.tables || typeof meta.tables !== 'object') checks.push({ name: 'row counts', ok: false, detail: 'the snapshot records no row counts' });
    else {
      const [[counts] = []] = await psql(source, db, `BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;\n${TABLE_COUNTS_SQL}\nCOMMIT;`);
      checks.push(compareCounts(meta.tables, JSON.parse(counts ?? '{}') as Record<string, number>));
    }
  } catch (err) {
    checks.push({ name: 'row counts', ok: false, detail: errorMessage(err) });
  }
  for (const sql of sqlChecks) {
    const name = `sql: ${sql}`;
    try {
      const rows = await psql(source, db, /;\s*$/.test(sql) ? sql : `${sql};`);
      const value = rows[0]?.[0];
      checks.push({ name, ok: truthy(value), detail: rows.length === 0 ? 'no rows' : `first value: ${value}` });
    } catch (err) {
      checks.push({ name, ok: false, detail: errorMessage(err) });
    }
  }
  return checks;
}

export const postgresLogicalDriver: PostgresLogicalDriver = {
  describe: (source) => describePostgres(source),
  backup,
  exists: (source, target) => databaseExists(source, target.into ?? source.connection.database),
  restore,
  verify,
};
