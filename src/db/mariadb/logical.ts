/**
 * MariaDB / MySQL logical backups: `mariadb-dump` of one database streamed straight into the repository, restored
 * by piping the dump into the `mariadb` client; see docs/databases.md for the choices (row counts from the
 * dump itself, the trial restore and the `__before_` database of an in-place restore).
 */
import { randomBytes } from 'node:crypto';
import type { MariadbSource } from '../../config/schema-sources.js';
import type { Snapshot } from '../../repo/snapshot.js';
import { backupStreams, readStream, type StreamEntry } from '../../snapshot/stream-backup.js';
import { systemClock } from '../../util/clock.js';
import { SafepointError, UserError, errorMessage } from '../../util/errors.js';
import { dbSnapshotOptions, type DatabaseDriver, type DbCheck, type DbRestoreTarget } from '../driver.js';
import { DumpRowCounter } from './dump-row-counter.js';
import { ident, literal, pipeInto, query, toolOutput, type MariadbEndpoint } from './mariadb-tools.js';

/** What a logical MariaDB snapshot records in `meta`. */
export type MariadbLogicalMeta = {
  readonly kind: 'mariadb';
  readonly mode: 'logical';
  readonly database: string;
  /** The snapshot's file holding the dump (`<database>.sql`). */
  readonly stream: string;
  readonly server_version: string;
  /** The database's default character set and collation, given to the database a restore creates. */
  readonly charset: string | null;
  readonly collation: string | null;
  /** Rows per table, as in the dump (so taken inside its consistent snapshot). */
  readonly tables: Record<string, number>;
};

/**
 * The dump: one database, without `--databases` (no CREATE DATABASE / USE), so that it restores under any name;
 * `--single-transaction` gives a consistent InnoDB snapshot without locking; `--hex-blob` keeps binary data 7-bit.
 */
const DUMP_OPTIONS = ['--single-transaction', '--routines', '--triggers', '--events', '--hex-blob', '--max-allowed-packet=1073741824'];

/** Table types that hold rows (a SEQUENCE holds one, but is not a table to count or check). */
const BASE_TABLES = `('BASE TABLE', 'SYSTEM VERSIONED')`;

/** MariaDB's limit on database names, in characters. */
const NAME_MAX = 64;

function location(source: MariadbSource, database: string): string {
  const c = source.connection;
  return `mariadb://${c.host ?? 'localhost'}:${c.port}/${database}`;
}

function targetDatabase(source: MariadbSource, target: DbRestoreTarget): string {
  return target.into ?? source.connection.database;
}

export const mariadbLogicalDriver: DatabaseDriver<MariadbSource> = {
  describe(source) {
    return location(source, source.connection.database);
  },

  async backup(repo, source, o) {
    if (o.type !== undefined && o.type !== 'full') {
      throw new UserError(`${source.name}: a logical MariaDB backup (mariadb-dump) is always full; use mode: physical for ${o.type} backups`);
    }
    const database = source.connection.database;
    if (database.startsWith('-')) throw new UserError(`${source.name}: database name ${JSON.stringify(database)} cannot be given to mariadb-dump`);
    const info = await query(source, `SELECT VERSION(), s.DEFAULT_CHARACTER_SET_NAME, s.DEFAULT_COLLATION_NAME FROM (SELECT 1) AS one LEFT JOIN information_schema.SCHEMATA AS s ON s.SCHEMA_NAME = ${literal(database)}`, { signal: o.signal });
    const [version = '', charset = 'NULL', collation = 'NULL'] = info[0] ?? [];
    const counter = new DumpRowCounter();
    // filled in when the dump has ended, before backupStreams records the snapshot that holds this object
    const tables: Record<string, number> = {};
    const stream = `${database.replaceAll('/', '_')}.sql`;
    const meta: MariadbLogicalMeta = { kind: 'mariadb', mode: 'logical', database, stream, server_version: version, charset: charset === 'NULL' ? null : charset, collation: collation === 'NULL' ? null : collation, tables };
    async function* dump(): AsyncGenerator<Buffer> {
      for await (const chunk of toolOutput(source, 'dump', [...DUMP_OPTIONS, database], o.signal)) {
        counter.push(chunk);
        yield chunk;
      }
      Object.assign(tables, counter.tables());
    }
    async function* entries(): AsyncGenerator<StreamEntry> {
      yield { name: stream, data: dump() };
      // asked for the next entry once the dump is stored: the last moment to abort before the snapshot is recorded
      o.signal?.throwIfAborted();
    }
    return backupStreams(repo, entries(), dbSnapshotOptions(source, o, meta as unknown as Record<string, unknown>, location(source, database)));
  },

  async exists(source, target) {
    return databaseExists(source, targetDatabase(source, target));
  },

  /**
   * Into a database that does not exist: create it, load the dump (dropped again if that fails). Into an existing
   * one (replace): load the dump into a trial database `<db>__restore_<random>` first, so a snapshot that does not
   * load leaves the live database untouched; then move the live tables aside into `<db>__before_<time>` (kept,
   * nothing dropped but views, routines and events, whose definitions are in the safety backup) and load the dump
   * into the emptied database; the trial is dropped at the end.
   */
  async restore(repo, snapshot, source, target, o) {
    const meta = logicalMeta(snapshot);
    const database = targetDatabase(source, target);
    const data = (): AsyncGenerator<Buffer> => readStream(repo, snapshot, meta.stream);
    const result = (bytes: number): { target: string; bytes: number } => ({ target: location(source, database), bytes });
    if (!(await databaseExists(source, database))) {
      await createDatabase(source, database, meta);
      return result(await loadOrDrop(source, database, data(), o.signal));
    }
    const trial = await freeName(source, database, `__restore_${randomBytes(4).toString('hex')}`);
    await createDatabase(source, trial, meta);
    try {
      await loadOrDrop(source, trial, data(), o.signal);
    } catch (err) {
      if (o.signal?.aborted) throw err;
      throw new SafepointError(`restore of ${database} stopped before it was changed (the trial load into ${trial} failed): ${errorMessage(err)}`, { cause: err });
    }
    o.signal?.throwIfAborted();
    const before = await moveAside(source, database, meta);
    let bytes: number;
    try {
      bytes = await pipeInto(source, database, data(), o.signal);
    } catch (err) {
      throw new SafepointError(`restore into ${database} failed after its tables were moved to ${before} (a complete restored copy is in ${trial}): ${errorMessage(err)}`, { cause: err });
    }
    await query(source, `DROP DATABASE IF EXISTS ${ident(trial)}`);
    return result(bytes);
  },

  async verify(source, snapshot, target) {
    const database = targetDatabase(source, target);
    const sqlChecks = source.checks.flatMap((c) => ('sql' in c ? [c.sql] : []));
    const checks: DbCheck[] = [];
    try {
      const [[version = '?'] = []] = await query(source, 'SELECT VERSION()', { database });
      checks.push({ name: 'server answers', ok: true, detail: `${location(source, database)}: MariaDB ${version}` });
    } catch (err) {
      checks.push({ name: 'server answers', ok: false, detail: errorMessage(err) });
      const notRun = 'not run: the server does not answer';
      return [...checks, ...['CHECK TABLE', 'row counts', ...sqlChecks.map((sql) => `sql: ${sql}`)].map((name) => ({ name, ok: false, detail: notRun }))];
    }
    checks.push(await attempt('CHECK TABLE', () => checkTables(source, database)));
    checks.push(await attempt('row counts', () => compareRowCounts(source, database, snapshot)));
    for (const sql of sqlChecks) {
      const name = `sql: ${sql}`;
      checks.push(await attempt(name, async () => {
        const [[value] = []] = await query(source, sql, { database });
        return { name, ok: truthy(value), detail: value === undefined ? 'no rows' : `first value: ${value}` };
      }));
    }
    return checks;
  },
};

function logicalMeta(snapshot: Snapshot): MariadbLogicalMeta {
  const m = snapshot.meta;
  if (m?.kind !== 'mariadb' || m.mode !== 'logical' || typeof m.stream !== 'string' || typeof m.database !== 'string') {
    throw new UserError(`snapshot of ${snapshot.source ?? 'unknown source'} at ${snapshot.time} is not a logical MariaDB backup (meta kind ${String(m?.kind)}, mode ${String(m?.mode)})`);
  }
  return m as unknown as MariadbLogicalMeta;
}

async function attempt(name: string, run: () => Promise<DbCheck>): Promise<DbCheck> {
  try {
    return await run();
  } catch (err) {
    return { name, ok: false, detail: errorMessage(err) };
  }
}

/** SQL truthiness of a value as the client prints it: NULL, '', 0 (in any numeric spelling) and 'false' are false. */
function truthy(value: string | undefined): boolean {
  if (value === undefined || value === 'NULL' || value.trim() === '' || value.toLowerCase() === 'false') return false;
  const n = Number(value);
  return Number.isNaN(n) || n !== 0;
}

async function databaseExists(e: MariadbEndpoint, database: string): Promise<boolean> {
  const rows = await query(e, `SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ${literal(database)}`);
  return rows[0]?.[0] === '1';
}

async function createDatabase(e: MariadbEndpoint, database: string, meta: Pick<MariadbLogicalMeta, 'charset' | 'collation'>): Promise<void> {
  await query(e, `CREATE DATABASE ${ident(database)}${charsetClause(meta)}`);
}

function charsetClause(meta: Pick<MariadbLogicalMeta, 'charset' | 'collation'>): string {
  const word = /^\w+$/;
  let clause = '';
  if (meta.charset !== null && word.test(meta.charset)) clause += ` CHARACTER SET ${meta.charset}`;
  if (meta.collation !== null && word.test(meta.collation)) clause += ` COLLATE ${meta.collation}`;
  return clause;
}

/** Loads the dump into a database this restore created; drops it again when that fails, so a retry starts clean. */
async function loadOrDrop(e: MariadbEndpoint, database: string, data: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<number> {
  try {
    return await pipeInto(e, database, data, signal);
  } catch (err) {
    await query(e, `DROP DATABASE IF EXISTS ${ident(database)}`).catch(() => undefined);
    throw err;
  }
}

/** `<database><suffix>`, the database part shortened to fit 64 characters, `_2`, `_3`... added while taken. */
async function freeName(e: MariadbEndpoint, database: string, suffix: string): Promise<string> {
  for (let n = 1; ; n++) {
    const tail = n === 1 ? suffix : `${suffix}_${n}`;
    const name = [...database].slice(0, NAME_MAX - tail.length).join('') + tail;
    if (!(await databaseExists(e, name))) return name;
  }
}

/**
 * Empties `database` for an in-place load, keeping its data: every table (and sequence) moves to a new
 * `<database>__before_<time>` in one RENAME TABLE statement (atomic). Triggers cannot move between databases, so
 * they are dropped first and re-created on the moved tables (put back in `database` if the rename fails); views,
 * routines and events stay behind and are dropped, the dump re-creates its own. Returns the new database's name.
 */
async function moveAside(e: MariadbEndpoint, database: string, meta: Pick<MariadbLogicalMeta, 'charset' | 'collation'>): Promise<string> {
  const at = literal(database);
  const stamp = systemClock.now().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
  const before = await freeName(e, database, `__before_${stamp}`);
  const [schema = []] = await query(e, `SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ${at}`);
  await createDatabase(e, before, { charset: schema[0] ?? null, collation: schema[1] ?? null });
  const tables = (await query(e, `SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${at} AND TABLE_TYPE <> 'VIEW' ORDER BY TABLE_NAME`)).map((r) => r[0]!);
  const triggers = await triggerDefinitions(e, database);
  if (tables.length > 0) {
    if (triggers.length > 0) await query(e, triggers.map((t) => `DROP TRIGGER ${ident(database)}.${ident(t.name)};`).join('\n'));
    try {
      await query(e, `RENAME TABLE ${tables.map((t) => `${ident(database)}.${ident(t)} TO ${ident(before)}.${ident(t)}`).join(', ')}`);
    } catch (err) {
      await createTriggers(e, database, triggers).catch(() => undefined);
      await query(e, `DROP DATABASE IF EXISTS ${ident(before)}`).catch(() => undefined);
      throw new SafepointError(`could not move the tables of ${database} aside, nothing was changed: ${errorMessage(err)}`, { cause: err });
    }
    // the old triggers go with the old data; a trigger that does not fit there any more is not worth failing for
    await createTriggers(e, before, triggers).catch(() => undefined);
  }
  const drops: string[] = [];
  for (const [name = ''] of await query(e, `SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ${at}`)) drops.push(`DROP VIEW IF EXISTS ${ident(database)}.${ident(name)};`);
  for (const [type = '', name = ''] of await query(e, `SELECT ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ${at} ORDER BY ROUTINE_TYPE = 'PACKAGE'`)) {
    drops.push(`DROP ${type} IF EXISTS ${ident(database)}.${ident(name)};`);
  }
  for (const [name = ''] of await query(e, `SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ${at}`)) drops.push(`DROP EVENT IF EXISTS ${ident(database)}.${ident(name)};`);
  const alter = charsetClause(meta);
  if (alter !== '') drops.push(`ALTER DATABASE ${ident(database)}${alter};`);
  if (drops.length > 0) await query(e, drops.join('\n'));
  return before;
}

interface TriggerDefinition {
  readonly name: string;
  readonly sqlMode: string;
  readonly statement: string;
}

async function triggerDefinitions(e: MariadbEndpoint, database: string): Promise<TriggerDefinition[]> {
  const names = await query(e, `SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ${literal(database)} ORDER BY EVENT_OBJECT_TABLE, ACTION_ORDER`);
  const out: TriggerDefinition[] = [];
  for (const [name = ''] of names) {
    const [row = []] = await query(e, `SHOW CREATE TRIGGER ${ident(database)}.${ident(name)}`);
    out.push({ name, sqlMode: row[1] ?? '', statement: row[2] ?? '' });
  }
  return out;
}

/** Runs trigger definitions (as SHOW CREATE TRIGGER gave them, tables unqualified) in `database`. */
async function createTriggers(e: MariadbEndpoint, database: string, triggers: readonly TriggerDefinition[]): Promise<void> {
  if (triggers.length === 0) return;
  const end = '$$safepoint$$';
  const script = triggers.map((t) => `SET SESSION sql_mode = ${literal(t.sqlMode)};\nDELIMITER ${end}\n${t.statement}\n${end}\nDELIMITER ;`).join('\n');
  await query(e, script, { database });
}

async function baseTables(e: MariadbEndpoint, database: string): Promise<string[]> {
  return (await query(e, `SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${literal(database)} AND TABLE_TYPE IN ${BASE_TABLES} ORDER BY TABLE_NAME`)).map((r) => r[0]!);
}

/** CHECK TABLE on every table: an `error` message or a final status other than OK fails. */
export async function checkTables(e: MariadbEndpoint, database: string): Promise<DbCheck> {
  const name = 'CHECK TABLE';
  const tables = await baseTables(e, database);
  if (tables.length === 0) return { name, ok: true, detail: 'no tables' };
  const bad: string[] = [];
  for (let i = 0; i < tables.length; i += 100) {
    const rows = await query(e, `CHECK TABLE ${tables.slice(i, i + 100).map((t) => `${ident(database)}.${ident(t)}`).join(', ')}`);
    for (const [table = '', , type = '', text = ''] of rows) {
      if (type === 'error' || (type === 'status' && text !== 'OK')) bad.push(`${table}: ${text}`);
    }
  }
  return bad.length === 0 ? { name, ok: true, detail: `${tables.length} tables OK` } : { name, ok: false, detail: bad.slice(0, 10).join('; ') };
}

/** The rows of each table against the counts recorded at backup time; a missing or unexpected table fails too. */
async function compareRowCounts(e: MariadbEndpoint, database: string, snapshot: Snapshot): Promise<DbCheck> {
  const name = 'row counts';
  const expected = snapshot.meta?.tables;
  if (typeof expected !== 'object' || expected === null) return { name, ok: false, detail: 'the snapshot recorded no row counts' };
  const want = new Map(Object.entries(expected as Record<string, unknown>).map(([t, n]) => [t, Number(n)]));
  const live = await baseTables(e, database);
  const present = live.filter((t) => want.has(t));
  const found = new Map<string, number>();
  for (let i = 0; i < present.length; i += 100) {
    const part = present.slice(i, i + 100);
    const sql = part.map((t, k) => `SELECT ${i + k}, COUNT(*) FROM ${ident(database)}.${ident(t)}`).join(' UNION ALL ');
    for (const [k = '', n = ''] of await query(e, sql)) found.set(present[Number(k)]!, Number(n));
  }
  const problems: string[] = [];
  let rows = 0;
  for (const [table, n] of want) {
    const got = found.get(table);
    if (got === undefined) problems.push(`${table}: missing`);
    else if (got !== n) problems.push(`${table}: ${got} rows, the backup had ${n}`);
    rows += got ?? 0;
  }
  for (const table of live) if (!want.has(table)) problems.push(`${table}: not in the backup`);
  if (problems.length > 0) return { name, ok: false, detail: problems.slice(0, 10).join('; ') + (problems.length > 10 ? `; and ${problems.length - 10} more` : '') };
  return { name, ok: true, detail: `${want.size} tables, ${rows} rows as in the backup` };
}
