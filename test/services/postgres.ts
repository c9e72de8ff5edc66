/**
 * The PostgreSQL server of the integration tests: 127.0.0.1:5432, user postgres, trust authentication (override with
 * SAFEPOINT_TEST_PGHOST / SAFEPOINT_TEST_PGPORT / SAFEPOINT_TEST_PGUSER). Tests make throwaway databases with a
 * random prefix and drop everything under it afterwards.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { postgresSource, type PostgresSource } from '../../src/config/schema-sources.js';

const run = promisify(execFile);

export const PG = {
  host: process.env.SAFEPOINT_TEST_PGHOST ?? '127.0.0.1',
  port: Number(process.env.SAFEPOINT_TEST_PGPORT ?? 5432),
  user: process.env.SAFEPOINT_TEST_PGUSER ?? 'postgres',
} as const;

/** The environment of psql / pg_dump run by a test against the test server. */
export function pgEnv(database = 'postgres'): NodeJS.ProcessEnv {
  return { ...process.env, PGHOST: PG.host, PGPORT: String(PG.port), PGUSER: PG.user, PGDATABASE: database, PGCONNECT_TIMEOUT: '5' };
}

/** Where a client tool is installed (for fake bin_dirs that mix real tools with broken ones). */
export async function toolOnPath(tool: string): Promise<string> {
  const { stdout } = await run('sh', ['-c', 'command -v "$0"', tool]);
  return stdout.trim();
}

/** Whether the server answers (and psql is installed). */
export async function postgresAvailable(): Promise<boolean> {
  try {
    await run('psql', ['-X', '-A', '-t', '-w', '-c', 'SELECT 1'], { env: pgEnv(), timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

/** Runs SQL (a script, statements one by one) in `database`; resolves with psql's unaligned output, `|`-separated. */
export async function pgSql(database: string, sql: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('psql', ['-X', '-A', '-t', '-q', '-w', '-v', 'ON_ERROR_STOP=1'], { env: pgEnv(database), maxBuffer: 256 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`psql on ${database} failed: ${stderr || err.message}`));
      else resolve(stdout.trim());
    });
    child.stdin!.on('error', () => undefined); // EPIPE when psql exits first: its exit tells why
    child.stdin!.end(sql);
  });
}

/** `pg_dump --schema-only` of a database, without the per-run `\restrict` keys. */
export async function pgSchema(database: string): Promise<string> {
  const { stdout } = await run('pg_dump', ['-w', '--schema-only'], { env: pgEnv(database), maxBuffer: 64 << 20 });
  return stdout.split('\n').filter((l) => !/^\\(un)?restrict /.test(l)).join('\n');
}

/** A fresh name for a test's databases and roles: `sp_test_<random>`. */
export function testPrefix(): string {
  return `sp_test_${randomBytes(4).toString('hex')}`;
}

export function ident(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

/** The databases whose name starts with `prefix`. */
export async function databasesLike(prefix: string): Promise<string[]> {
  const out = await pgSql('postgres', `SELECT datname FROM pg_database WHERE starts_with(datname, '${prefix.replace(/'/g, "''")}') ORDER BY 1;`);
  return out === '' ? [] : out.split('\n');
}

/** Drops every database and role whose name starts with `prefix` (sessions still connected are ended). */
export async function dropAllLike(prefix: string): Promise<void> {
  for (const db of await databasesLike(prefix)) await pgSql('postgres', `DROP DATABASE IF EXISTS ${ident(db)} WITH (FORCE);`);
  const roles = await pgSql('postgres', `SELECT rolname FROM pg_roles WHERE starts_with(rolname, '${prefix.replace(/'/g, "''")}');`);
  for (const role of roles === '' ? [] : roles.split('\n')) await pgSql('postgres', `DROP ROLE IF EXISTS ${ident(role)};`);
}

/** A postgres source (as the configuration would give it) for `database` on the test server. */
export function pgSource(database: string, extra: Record<string, unknown> = {}): PostgresSource {
  return postgresSource.parse({ name: 'pg', repository: 'main', type: 'postgres', connection: { host: PG.host, port: PG.port, user: PG.user, database }, ...extra });
}
