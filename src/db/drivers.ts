import type { MariadbSource, PostgresSource, SourceConfig, SqliteSource } from '../config/schema.js';
import { UsageError } from '../util/errors.js';
import type { DatabaseDriver } from './driver.js';

export type DatabaseSource = SqliteSource | PostgresSource | MariadbSource;

export function isDatabaseSource(s: SourceConfig): s is DatabaseSource {
  return s.type === 'sqlite' || s.type === 'postgres' || s.type === 'mariadb';
}

/** The driver of a database source (loaded on first use: most commands never need one). */
export async function driverFor(source: DatabaseSource): Promise<DatabaseDriver<DatabaseSource>> {
  switch (source.type) {
    case 'sqlite':
      return (await import('./sqlite/sqlite-driver.js')).sqliteDriver as DatabaseDriver<DatabaseSource>;
    case 'postgres':
      if (source.mode === 'physical') return (await import('./postgres/physical.js')).postgresPhysicalDriver as DatabaseDriver<DatabaseSource>;
      return (await import('./postgres/logical.js')).postgresLogicalDriver as DatabaseDriver<DatabaseSource>;
    case 'mariadb':
      if (source.mode === 'physical') throw notYet(source, 'physical MariaDB backups (mariadb-backup)');
      return (await import('./mariadb/logical.js')).mariadbLogicalDriver as DatabaseDriver<DatabaseSource>;
  }
}

function notYet(source: DatabaseSource, what: string): UsageError {
  return new UsageError(`source ${source.name}: ${what} are not supported yet; use mode: logical (a consistent dump with the database's own tool)`);
}
