/**
 * The exact safepoint commands the runbook prints for each source of a configuration, and the facts about a source
 * that decide them (can it replay to a time, where a test restore goes). Language-neutral: placeholders come in.
 */
import { basename } from 'node:path';
import type { Config } from '../config/schema.js';
import type { SourceConfig } from '../config/schema-sources.js';
import { isDatabaseSource, type DatabaseSource } from '../db/drivers.js';
import { stripCredentials } from '../util/secret.js';

/** Where the runbook's test restores go: a folder per source, away from the live data. */
export const TEST_RESTORE_ROOT = '/var/tmp/safepoint-restore-test';

/** The words standing for what the reader fills in (`<TIME>`...), in the document's language. */
export interface Placeholders {
  readonly time: string;
  readonly snapshot: string;
  readonly point: string;
  readonly dir: string;
  readonly release: string;
  readonly label: string;
  readonly restorePoint: string;
}

/** A value as one shell word: quoted when the shell would otherwise split or interpret it. */
export function shellWord(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

/** Text from the configuration made safe to print: credentials removed from every URL in it. */
export function safe(text: string): string {
  return stripCredentials(text);
}

/**
 * ` --repo NAME` for commands that do not find the repository from `--source` (snapshots, files restore, diff, scan,
 * check), when the configuration has more than one repository; '' otherwise.
 */
export function repoFlag(cfg: Config, repository: string): string {
  return Object.keys(cfg.repositories).length > 1 ? ` --repo ${shellWord(repository)}` : '';
}

/** How far back a database source can be put: to the second (a log replayed), or to one of its backups. */
export type Precision = 'wal' | 'binlog' | 'replication' | 'backup';

export function precision(s: DatabaseSource): Precision {
  if (s.type === 'sqlite') return s.continuous ? 'replication' : 'backup';
  if (s.mode !== 'physical') return 'backup';
  if (s.type === 'mariadb') return 'binlog';
  return s.wal_archiving ? 'wal' : 'backup';
}

/** `restore --target-time` is accepted (SQLite, PostgreSQL physical with WAL archiving, MariaDB physical). */
export function acceptsTargetTime(s: DatabaseSource): boolean {
  return s.type === 'sqlite' || precision(s) === 'wal' || precision(s) === 'binlog';
}

/** `--into` of a test restore: a file or folder under TEST_RESTORE_ROOT, or a database name beside the live one. */
export function testRestoreTarget(s: DatabaseSource): string {
  if (s.type === 'sqlite') return `${TEST_RESTORE_ROOT}/${s.name}/${basename(s.path)}`;
  if (s.mode === 'logical') return `${s.connection.database}_restore_test`;
  return `${TEST_RESTORE_ROOT}/${s.name}`;
}

export interface DatabaseCommands {
  readonly drill: string;
  readonly list: string;
  readonly testRestore: string;
  /** The test restore to a time (sources that accept --target-time). */
  readonly testRestoreAt: string | null;
  readonly planInPlace: string;
  readonly restoreInPlace: string;
  readonly planAt: string | null;
  readonly restoreAt: string | null;
  /** PostgreSQL with WAL archiving: to a restore point's named position. */
  readonly restoreToPoint: string | null;
  readonly planSnapshot: string;
  readonly restoreSnapshot: string;
  readonly rollbackPlan: string;
  readonly rollback: string;
  readonly rollbackScripted: string;
  readonly safetyList: string;
}

export function databaseCommands(cfg: Config, s: DatabaseSource, p: Placeholders): DatabaseCommands {
  const src = `--source ${shellWord(s.name)}`;
  const repo = repoFlag(cfg, s.repository);
  const at = acceptsTargetTime(s);
  const into = `--into ${shellWord(testRestoreTarget(s))}`;
  return {
    drill: `safepoint drill ${src}`,
    list: `safepoint snapshots ${src}${precision(s) === 'backup' ? '' : ' --wal'}${repo}`,
    testRestore: `safepoint restore ${src} ${into}`,
    testRestoreAt: at ? `safepoint restore ${src} --target-time ${p.time} ${into}` : null,
    planInPlace: `safepoint restore ${src} --dry-run`,
    restoreInPlace: `safepoint restore ${src} --force`,
    planAt: at ? `safepoint restore ${src} --target-time ${p.time} --dry-run` : null,
    restoreAt: at ? `safepoint restore ${src} --target-time ${p.time} --force` : null,
    restoreToPoint: precision(s) === 'wal' ? `safepoint restore ${src} --target-name ${p.restorePoint} --force` : null,
    planSnapshot: `safepoint restore ${src} --snapshot ${p.snapshot} --dry-run`,
    restoreSnapshot: `safepoint restore ${src} --snapshot ${p.snapshot} --force`,
    rollbackPlan: `safepoint rollback data ${src} --to ${p.time} --dry-run`,
    rollback: `safepoint rollback data ${src} --to ${p.time}`,
    rollbackScripted: `safepoint rollback data ${src} --to ${p.time} --force`,
    safetyList: `safepoint snapshots ${src} --tag safety${repo}`,
  };
}

export interface FilesCommands {
  readonly list: string;
  readonly drill: string;
  readonly testRestore: string;
  readonly restoreSnapshot: string;
  readonly diffLive: string;
}

export function filesCommands(cfg: Config, s: Extract<SourceConfig, { type: 'files' }>, p: Placeholders): FilesCommands {
  const repo = repoFlag(cfg, s.repository);
  const into = shellWord(`${TEST_RESTORE_ROOT}/${s.name}`);
  return {
    list: `safepoint snapshots --source ${shellWord(s.name)}${repo}`,
    drill: `safepoint drill --source ${shellWord(s.name)}`,
    testRestore: `safepoint restore latest --source ${shellWord(s.name)} --target ${into} --verify${repo}`,
    restoreSnapshot: `safepoint restore ${p.snapshot} --target ${p.dir} --verify${repo}`,
    diffLive: `safepoint diff ${p.snapshot} --live${repo}`,
  };
}

/** Repository-level commands (the repository is not found from a source). */
export function repositoryCommand(cfg: Config, repository: string, command: string): string {
  return `safepoint ${command}${repoFlag(cfg, repository)}`;
}

export function databaseSources(cfg: Config): DatabaseSource[] {
  return cfg.sources.filter(isDatabaseSource);
}
