import type { Command } from 'commander';
import { findSnapshot } from '../repo/snapshot.js';
import { restoreTree } from '../snapshot/restorer.js';
import { shortId } from '../repo/ids.js';
import { IntegrityError, UsageError } from '../util/errors.js';
import { isDatabaseSource } from '../db/drivers.js';
import { runDatabaseRestore } from './database.js';
import { formatBytes, formatRate, formatSeconds } from '../util/format.js';
import type { Context } from './context.js';
import { eta } from './progress.js';
import { collect } from './options.js';
import { throttle } from './output.js';

interface RestoreFlags {
  target?: string;
  snapshot?: string;
  into?: string;
  dryRun?: boolean;
  force?: boolean;
  include: string[];
  exclude: string[];
  verify?: boolean;
  overwrite?: boolean;
  source?: string;
  host?: string;
  tag: string[];
  targetTime?: string;
  targetLsn?: string;
  targetName?: string;
  targetXid?: string;
  port?: string;
  start?: boolean;
  point?: string;
  rev?: string;
  fromBundle?: boolean;
  gitDir?: string;
}


export function registerRestore(program: Command, ctx: () => Context): void {
  program
    .command('restore')
    .description('restore a snapshot of files into a folder (DIR/<name of each backed-up path>/...); a database source through its restore procedure (stop services, safety backup, restore, verify, restart); or, as `restore code --point P | --rev R --into DIR`, code and configuration (clone at the revision, configuration from the last valid backup, deploy scripts, health checks)')
    .argument('[snapshot]', 'snapshot id (or a unique prefix), "latest", or "code"')
    .option('-t, --target <dir>', 'files: folder to restore into (must be empty unless --overwrite); PostgreSQL physical: "immediate" stops recovery as soon as the base backup is consistent')
    .option('--snapshot <id>', 'database sources: the snapshot to restore (default: the latest of the source)')
    .option('--into <target>', 'database sources: restore elsewhere (SQLite: a file; PostgreSQL/MariaDB logical: a database name; PostgreSQL physical: a data directory) instead of in place; code: the new folder')
    .option('--target-time <time>', 'PostgreSQL physical: recover to this time (ISO 8601; UTC unless a zone is given)')
    .option('--target-lsn <lsn>', 'PostgreSQL physical: recover to this WAL position (e.g. 0/3000060)')
    .option('--target-name <name>', 'PostgreSQL physical: recover to this restore point (pg_create_restore_point; safepoint makes one per backup)')
    .option('--target-xid <xid>', 'PostgreSQL physical: recover to the end of this transaction')
    .option('--port <port>', 'PostgreSQL physical with --start: the port the restored server listens on')
    .option('--start', 'PostgreSQL physical with --into: start a server on the restored copy once it is verified')
    .option('--point <point>', 'code: the restore point (tag, time part, prefix or "latest")')
    .option('--rev <rev>', 'code: a git revision (branch, tag, commit)')
    .option('--from-bundle', "code: clone from the point's git bundle in the repository, not the git server")
    .option('--git-dir <dir>', "code: the project's git work tree holding the restore points (default: the config file's folder)")
    .option('--dry-run', 'database sources and code: print the plan without running it')
    .option('--force', 'database sources: allow replacing the live database (a safety backup is taken first)')
    .option('-i, --include <glob>', 'restore only matching paths, relative to the snapshot root, e.g. "app/config/**" (repeatable)', collect, [])
    .option('-e, --exclude <glob>', 'skip matching paths (repeatable)', collect, [])
    .option('--verify', 're-read every restored file and check it against the snapshot')
    .option('--overwrite', 'restore into a non-empty folder, replacing what is there')
    .option('--source <name>', 'a database source: run its restore procedure; a files source: with "latest", the latest snapshot of it')
    .option('--host <name>', 'with "latest": the latest snapshot from this host')
    .option('--tag <tag>', 'with "latest": the latest snapshot with this tag (repeatable)', collect, [])
    .action(async (ref: string, flags: RestoreFlags) => {
      process.exitCode = await runRestore(ctx(), ref, flags);
    });
}

async function runRestore(ctx: Context, refArg: string | undefined, flags: RestoreFlags): Promise<number> {
  if (refArg === 'code') {
    return (await import('./code-restore.js')).runCodeRestore(ctx, flags);
  }
  if (flags.point !== undefined || flags.rev !== undefined || flags.fromBundle || flags.gitDir !== undefined) throw new UsageError('--point, --rev, --from-bundle and --git-dir are for `restore code`');
  if (flags.source) {
    const cfg = await ctx.config();
    const src = cfg?.sources.find((s) => s.name === flags.source);
    if (cfg && src && isDatabaseSource(src)) {
      if (flags.target !== undefined && flags.target !== 'immediate') throw new UsageError(`--target ${flags.target}: a database source restores in place, or elsewhere with --into; --target takes only "immediate" (PostgreSQL physical)`);
      return runDatabaseRestore(ctx, cfg, src, { ...flags, ...(refArg !== undefined && flags.snapshot === undefined ? { snapshot: refArg } : {}) });
    }
  }
  if (flags.into !== undefined || flags.dryRun || flags.force || flags.start || flags.port !== undefined || flags.targetTime !== undefined || flags.targetLsn !== undefined || flags.targetName !== undefined || flags.targetXid !== undefined) {
    throw new UsageError('--into, --dry-run, --force, --start, --port and --target-* are for database sources (--source NAME)');
  }
  const ref = refArg ?? (flags.snapshot ?? 'latest');
  const target = flags.target;
  if (!target) throw new UsageError('restoring files needs --target DIR');
  const out = ctx.out;
  return ctx.withRepository('restore', 'shared', async (repo) => {
    const sn = await findSnapshot(repo, ref, { ...(flags.source ? { source: flags.source } : {}), ...(flags.host ? { host: flags.host } : {}), tags: flags.tag });
    await repo.loadIndex();
    out.info(`restoring snapshot ${shortId(sn.id)} of ${sn.paths.join(', ')} at ${sn.time} to ${target}`);
    const started = Date.now();
    const show = throttle(out.json ? 1000 : 150, (p: { files: number; bytes: number; totalFiles: number; totalBytes: number }) => {
      const secs = (Date.now() - started) / 1000;
      const pct = p.totalBytes > 0 ? p.bytes / p.totalBytes : 1;
      const left = eta(secs, pct);
      if (out.json) out.event({ message_type: 'status', operation: 'restore', seconds_elapsed: Math.round(secs), seconds_remaining: left === null ? null : Math.round(left), percent_done: pct, total_files: p.totalFiles, files_restored: p.files, total_bytes: p.totalBytes, bytes_restored: p.bytes });
      else out.status(`[${formatSeconds(secs)}] ${(pct * 100).toFixed(1)}%  ${p.files}/${p.totalFiles} files ${formatBytes(p.bytes)}/${formatBytes(p.totalBytes)}  ${formatRate(p.bytes, secs)}  ETA ${formatSeconds(left ?? NaN)}`);
    });
    const r = await restoreTree(repo, sn.tree, {
      target,
      include: flags.include,
      exclude: flags.exclude,
      overwrite: flags.overwrite ?? false,
      verify: flags.verify ?? false,
      onProgress: show,
      onError: (path, message) => {
        out.warn(`${path}: ${message}`);
        out.event({ message_type: 'error', error: { message }, during: 'restore', item: path });
      },
    });
    out.clearStatus();
    const secs = (Date.now() - started) / 1000;
    out.event({ message_type: 'summary', snapshot_id: sn.id, files_restored: r.files, dirs_restored: r.dirs, bytes_restored: r.bytes, files_verified: r.verified, errors: r.errors.length, total_duration: secs });
    out.info(`restored ${r.files} files, ${r.dirs} dirs, ${formatBytes(r.bytes)} in ${formatSeconds(secs)} (${formatRate(r.bytes, secs)})${flags.verify ? `; verified ${r.verified} files` : ''}`);
    if (r.errors.length > 0) throw new IntegrityError(`${r.errors.length} entries could not be restored (first: ${r.errors[0]}); the others were restored — run \`safepoint check --read-data\``);
    return 0;
  });
}
