/**
 * `safepoint rollback data`: after data corruption, a database back to an earlier time through its restore
 * procedure (stop services, safety backup, restore, verify, restart), the plan shown first and confirmed.
 * (`rollback deploy` is in deploy.ts, `rollback attack` in rollback-attack.ts.)
 */
import type { Command } from 'commander';
import { createInterface } from 'node:readline/promises';
import { findSource } from '../config/lookup.js';
import { isDatabaseSource, type DatabaseSource } from '../db/drivers.js';
import { shortId } from '../repo/ids.js';
import { loadSnapshots } from '../repo/snapshot.js';
import { restorePoints } from '../status/status.js';
import { UsageError, errorMessage } from '../util/errors.js';
import { parseTime } from '../util/time.js';
import type { Context } from './context.js';
import { runDatabaseRestore } from './database.js';
import { recordOperation } from './journal-record.js';

interface DataFlags { source?: string; to?: string; dryRun?: boolean; force?: boolean }

export function registerRollback(program: Command, ctx: () => Context): void {
  const rollback = program.commands.find((c) => c.name() === 'rollback');
  if (!rollback) throw new Error('the rollback command is registered by deploy.ts first');
  rollback
    .command('data')
    .description('data corruption: restore a database source to a point in time before it (PostgreSQL physical and MariaDB physical replay their WAL / binlogs to the second; SQLite its replication; logical dumps go back to the last backup before the time) through the restore procedure: stop services, safety backup, restore, verify, restart; the plan is shown first')
    .requiredOption('--source <name>', 'the database source')
    .requiredOption('--to <time>', 'the time to go back to (ISO 8601; UTC unless a zone is given), e.g. just before the corruption')
    .option('--dry-run', 'show the plan, change nothing')
    .option('--force', 'do not ask for confirmation (scripts); without it, a terminal asks and anything else refuses')
    .action(async (f: DataFlags) => {
      process.exitCode = await runRollbackData(ctx(), f);
    });
}

/** Asks a yes/no question on the terminal; refuses (with how to proceed) when there is none. */
export async function confirm(question: string, force: boolean | undefined): Promise<void> {
  if (force) return;
  if (!process.stdin.isTTY || !process.stderr.isTTY) throw new UsageError(`${question.replace(/\?$/, '')}: confirm with --force (no terminal to ask on)`);
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = (await rl.question(`${question} [y/N] `)).trim().toLowerCase();
    if (answer !== 'y' && answer !== 'yes') throw new UsageError('cancelled: nothing was changed');
  } finally {
    rl.close();
  }
}

/**
 * Sources that replay a log to the second (PostgreSQL WAL, MariaDB binlogs, SQLite replication); the others restore
 * the last backup at or before the time.
 */
export function replaysToTime(s: DatabaseSource): boolean {
  return s.type === 'sqlite' ? s.continuous : s.mode === 'physical' && (s.type === 'mariadb' || s.wal_archiving);
}

async function runRollbackData(c: Context, f: DataFlags): Promise<number> {
  const cfg = await c.requireConfig();
  const source = findSource(cfg, f.source!);
  if (!isDatabaseSource(source)) throw new UsageError(`source ${source.name} is a files source: rollback data restores databases (files go back with \`safepoint restore\` or \`rollback attack\`)`);
  const target = { kind: 'time', time: parseTime(f.to!, '--to') } as const;
  if (target.time.getTime() > Date.now()) throw new UsageError(`--to ${f.to} is in the future`);
  const flags: Parameters<typeof runDatabaseRestore>[3] = { targetTime: f.to! };
  if (source.type !== 'sqlite' && !replaysToTime(source)) {
    // a dump is a moment of its own: the last one before the time, and what came after it is lost
    const sn = await c.withRepository('rollback', 'none', async (repo) => restorePoints(await loadSnapshots(repo, { source: source.name }), source.name)
      .filter((s) => Date.parse(s.summary.backup_end) <= target.time.getTime()).at(-1), source.name);
    if (!sn) throw new UsageError(`source ${source.name} has no complete backup finished at or before ${target.time.toISOString()}`);
    c.out.warn(`source ${source.name} (${source.type} ${source.mode}) has no log to replay: it goes back to backup ${shortId(sn.id)} of ${sn.summary.backup_end}; changes between then and ${target.time.toISOString()} are lost`);
    delete flags.targetTime;
    flags.snapshot = sn.id;
  }
  const started = new Date().toISOString();
  c.out.info(`rollback of ${source.name} to ${target.time.toISOString()}: the plan`);
  await runDatabaseRestore(c, cfg, source, { ...flags, dryRun: true });
  if (f.dryRun) return 0;
  await confirm(`roll ${source.name} back to ${target.time.toISOString()} (the current state is kept as a safety backup)?`, f.force);
  try {
    const code = await runDatabaseRestore(c, cfg, source, { ...flags, force: true });
    await recordOperation(c, { operation: 'rollback-data', source: source.name, started, result: 'ok', inputs: { to: target.time.toISOString(), ...flags }, figures: { seconds: (Date.now() - Date.parse(started)) / 1000 } }, { source: source.name });
    return code;
  } catch (err) {
    await recordOperation(c, { operation: 'rollback-data', source: source.name, started, result: 'failed', error: errorMessage(err), inputs: { to: target.time.toISOString(), ...flags }, figures: { seconds: (Date.now() - Date.parse(started)) / 1000 } }, { source: source.name });
    throw err;
  }
}
