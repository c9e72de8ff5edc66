import type { MariadbSource, PostgresSource, SourceConfig, SqliteSource } from '../config/schema.js';
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
      if (source.mode === 'physical') return (await import('./mariadb/physical.js')).mariadbPhysicalDriver as DatabaseDriver<DatabaseSource>;
      return (await import('./mariadb/logical.js')).mariadbLogicalDriver as DatabaseDriver<DatabaseSource>;
  }
}
