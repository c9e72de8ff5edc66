/** Schemas of the `sources:` entries: files, postgres, mariadb and sqlite. */
import { z } from 'zod';
import { bool, databaseRetention, duration, filesRetention, int, name, pathText, schedule, strict, text, textList } from './fields.js';

/** Keys every source has. */
const common = {
  name,
  repository: name,
  tags: textList.default([]),
  rpo: duration.optional(),
  rto: duration.optional(),
  /** Services (names under `services:`) stopped before a restore and started after it. */
  services: z.array(name).default([]),
};

const commandCheck = strict({ command: text });
const sqlCheck = strict({ sql: text });

export const filesSource = strict({
  ...common,
  type: z.literal('files'),
  paths: z.array(pathText).min(1).optional(),
  from_audit: pathText.optional(),
  exclude: textList.default([]),
  one_file_system: bool.default(false),
  schedule: schedule.optional(),
  retention: filesRetention.optional(),
  checks: z.array(commandCheck).default([]),
});

/** `schedule:` of a database: one cron for everything, or one per backup type. */
export const databaseSchedule = z.union([schedule, strict({ full: schedule, diff: schedule.optional(), incr: schedule.optional() })]);

function connection(defaultPort: number) {
  return strict({
    host: text.optional(),
    port: int(1, 65535).default(defaultPort),
    user: text.optional(),
    database: text,
    password_file: pathText.optional(),
  });
}

const database = {
  ...common,
  mode: z.enum(['physical', 'logical']).default('logical'),
  data_directory: pathText.optional(),
  bin_dir: pathText.optional(),
  schedule: databaseSchedule.optional(),
  retention: databaseRetention.optional(),
  checks: z.array(z.union([sqlCheck, commandCheck])).default([]),
};

export const postgresSource = strict({
  ...database,
  type: z.literal('postgres'),
  connection: connection(5432),
  wal_archiving: bool.default(false),
});

export const mariadbSource = strict({
  ...database,
  type: z.literal('mariadb'),
  connection: connection(3306),
});

export const sqliteSource = strict({
  ...common,
  type: z.literal('sqlite'),
  path: pathText,
  continuous: bool.default(false),
  schedule: schedule.optional(),
  retention: databaseRetention.optional(),
  checks: z.array(z.union([sqlCheck, commandCheck])).default([]),
});

export const SOURCE_TYPES = ['files', 'postgres', 'mariadb', 'sqlite'] as const;

export const source = z.discriminatedUnion('type', [filesSource, postgresSource, mariadbSource, sqliteSource], {
  error: (iss) => (iss.code === 'invalid_union' ? `expected one of ${SOURCE_TYPES.join(', ')}` : undefined),
});

export type SourceConfig = z.output<typeof source>;
export type FilesSource = z.output<typeof filesSource>;
export type PostgresSource = z.output<typeof postgresSource>;
export type MariadbSource = z.output<typeof mariadbSource>;
export type SqliteSource = z.output<typeof sqliteSource>;
export type DatabaseSchedule = z.output<typeof databaseSchedule>;
