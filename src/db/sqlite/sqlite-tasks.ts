/**
 * The SQLite work itself, synchronous (better-sqlite3): the online copy, the integrity check and the verification
 * of a restored file. sqlite-thread.ts runs these on a worker thread so that a long copy or check of a large
 * database never stalls the event loop.
 */
import Database from 'better-sqlite3';
import type { DbCheck } from '../driver.js';
import { errorMessage } from '../../util/errors.js';

/** How long a connection waits for a lock held by another one (WAL recovery, a rollback-journal writer). */
export const BUSY_TIMEOUT_MS = 10_000;

/** What a SQLite snapshot records in `meta`, computed on the copy that was stored. */
export interface SqliteMeta {
  readonly kind: 'sqlite';
  /** The SQLite library that made the copy. */
  readonly sqlite_version: string;
  readonly page_size: number;
  /** Rows per table (user tables of the main schema; no views, virtual or internal tables). */
  readonly tables: Record<string, number>;
}

/** Opens an existing database file read-only: it is never written, not even by a checkpoint. */
export function openReadOnly(path: string): Database.Database {
  return new Database(path, { readonly: true, fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
}

/**
 * Copies a live database into `dest` (new or empty) with SQLite's online backup API, and describes the copy.
 *
 * Why the backup API in ONE step, rather than its usual small steps or `VACUUM INTO`: every step runs in its own
 * read transaction, and a write by another connection between steps restarts the copy from page 1, so under
 * continuous writes an incremental copy may never finish. A single step reads every page inside one read
 * transaction: a consistent snapshot, finished in bounded time. In WAL mode a reader blocks no writer, so writers
 * carry on during the copy; in rollback-journal mode they wait (busy timeout) for the copy to end, ~4 ms per MB.
 * `VACUUM INTO` has the same locking but rebuilds every table and index (slower as indexes grow) and shifts the
 * layout, while a page-for-page copy keeps unchanged pages identical from one day to the next (deduplicated in the
 * repository), the page size and the journal mode.
 */
export async function copyDatabase(source: string, dest: string): Promise<SqliteMeta> {
  const db = openReadOnly(source);
  try {
    await db.backup(dest, { progress: () => 0x7fffffff });
  } finally {
    db.close();
  }
  const copy = openReadOnly(dest);
  try {
    return {
      kind: 'sqlite',
      sqlite_version: copy.prepare('SELECT sqlite_version()').pluck().get() as string,
      page_size: copy.pragma('page_size', { simple: true }) as number,
      tables: rowCounts(copy),
    };
  } finally {
    copy.close();
  }
}

/** Rows per user table of the main schema. */
export function rowCounts(db: Database.Database): Record<string, number> {
  const names = db.prepare("SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name").pluck().all() as string[];
  const counts: Record<string, number> = {};
  for (const name of names) counts[name] = Number(db.prepare(`SELECT count(*) FROM "${name.replaceAll('"', '""')}"`).pluck().get());
  return counts;
}

/** `PRAGMA integrity_check` of a file: [] when it is sound, else the problems (a file that is no database is one). */
export function integrityErrors(path: string): string[] {
  try {
    const db = openReadOnly(path);
    try {
      return integrityProblems(db);
    } finally {
      db.close();
    }
  } catch (err) {
    return [errorMessage(err)];
  }
}

function integrityProblems(db: Database.Database): string[] {
  const rows = db.pragma('integrity_check', { simple: false }) as { integrity_check: string }[];
  const messages = rows.map((r) => r.integrity_check);
  return messages.length === 1 && messages[0] === 'ok' ? [] : messages;
}

/**
 * Checks a restored database: `opens`, `integrity_check`, `row counts` (against the counts recorded at backup
 * time) and one check per SQL query (its first value must be true: non-zero, or the text "true"). Every check is
 * reported, none throws; when the file does not open, the others are reported as not run. Read-only.
 */
export function verifyDatabase(path: string, expected: Record<string, number> | undefined, queries: readonly string[]): DbCheck[] {
  const names = ['integrity_check', 'row counts', ...queries.map(sqlCheckName)];
  let db: Database.Database;
  let opens: DbCheck;
  try {
    db = openReadOnly(path);
    const objects = db.prepare('SELECT count(*) FROM sqlite_schema').pluck().get() as number;
    opens = { name: 'opens', ok: true, detail: `${path}: SQLite ${db.prepare('SELECT sqlite_version()').pluck().get() as string}, ${objects} schema objects` };
  } catch (err) {
    return [{ name: 'opens', ok: false, detail: `${path}: ${errorMessage(err)}` }, ...names.map((name) => ({ name, ok: false, detail: 'not run: the database does not open' }))];
  }
  try {
    return [
      opens,
      attempt('integrity_check', () => {
        const problems = integrityProblems(db);
        return problems.length === 0 ? [true, 'ok'] : [false, summarize(problems)];
      }),
      attempt('row counts', () => compareCounts(expected, rowCounts(db))),
      ...queries.map((sql) =>
        attempt(sqlCheckName(sql), () => {
          const row = db.prepare(sql).raw().get() as unknown[] | undefined;
          if (!row) return [false, 'returned no row'];
          return [isTrue(row[0]), `returned ${String(row[0])}`];
        }),
      ),
    ];
  } finally {
    db.close();
  }
}

export const sqlCheckName = (sql: string): string => `sql: ${sql}`;

function attempt(name: string, run: () => [boolean, string]): DbCheck {
  try {
    const [ok, detail] = run();
    return { name, ok, detail };
  } catch (err) {
    return { name, ok: false, detail: errorMessage(err) };
  }
}

function compareCounts(expected: Record<string, number> | undefined, actual: Record<string, number>): [boolean, string] {
  if (!expected) return [false, 'the snapshot records no row counts (meta.tables)'];
  const problems: string[] = [];
  for (const [table, want] of Object.entries(expected)) {
    const got = actual[table];
    if (got === undefined) problems.push(`${table}: missing (expected ${want} rows)`);
    else if (got !== want) problems.push(`${table}: ${got} rows, expected ${want}`);
  }
  for (const table of Object.keys(actual)) if (!(table in expected)) problems.push(`${table}: not in the snapshot`);
  const n = Object.keys(expected).length;
  return problems.length === 0 ? [true, `${n} tables, ${Object.values(expected).reduce((a, b) => a + b, 0)} rows as recorded`] : [false, summarize(problems)];
}

function isTrue(v: unknown): boolean {
  if (typeof v === 'number') return v !== 0 && !Number.isNaN(v);
  if (typeof v === 'bigint') return v !== 0n;
  if (typeof v === 'string') return v.trim().toLowerCase() === 'true' || (v.trim() !== '' && Number(v) !== 0 && !Number.isNaN(Number(v)));
  return false;
}

function summarize(lines: readonly string[], max = 5): string {
  return lines.length <= max ? lines.join('; ') : `${lines.slice(0, max).join('; ')}; ... ${lines.length - max} more`;
}

/** The tasks sqlite-thread.ts can run on a worker thread, by name (their arguments and results are cloneable). */
export const sqliteTasks = { copy: copyDatabase, integrity: integrityErrors, verify: verifyDatabase } as const;
