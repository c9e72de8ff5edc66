import type { Command } from 'commander';
import { backup, type ArchiveProgress } from '../snapshot/archiver.js';
import { makeExcluder, readExcludeFile, type Excluder } from '../snapshot/exclude.js';
import { scan } from '../snapshot/scanner.js';
import { findSnapshot, loadSnapshots, type Snapshot } from '../repo/snapshot.js';
import type { Repository } from '../repo/repository.js';
import type { FilesSource } from '../config/schema-sources.js';
import { hostname } from 'node:os';
import { findSource } from '../config/lookup.js';
import { UsageError, ExitCode } from '../util/errors.js';
import { formatBytes, formatRate, formatSeconds } from '../util/format.js';
import { shortId } from '../repo/ids.js';
import type { Context } from './context.js';
import { collect } from './options.js';
import { isDatabaseSource } from '../db/drivers.js';
import { runDatabaseBackup } from './database.js';
import { throttle } from './output.js';
import { resolve } from 'node:path';
import { orExclude, pathsFromAudit } from '../audit/from-audit.js';

export interface BackupFlags {
  tag: string[];
  exclude: string[];
  excludeFile: string[];
  oneFileSystem?: boolean;
  source?: string;
  host?: string;
  parent?: string;
  force?: boolean;
  type?: string;
}

export function registerBackup(program: Command, ctx: () => Context): void {
  program
    .command('backup')
    .description('back up files and folders into a new snapshot (exit code 3 when some files could not be read), or a source of safepoint.yaml (files or database) with --source')
    .argument('[paths...]', 'files and folders to back up (or use --source)')
    .option('--tag <tag>', 'add a tag to the snapshot (repeatable)', collect, [])
    .option('-e, --exclude <glob>', 'exclude matching paths (repeatable; a pattern without / matches names)', collect, [])
    .option('--exclude-file <file>', 'read exclude patterns from a file (repeatable)', collect, [])
    .option('-x, --one-file-system', 'do not cross file system boundaries')
    .option('--source <name>', 'back up a source from safepoint.yaml (its paths, excludes, tags and repository)')
    .option('--host <name>', 'host name to record (default: this machine)')
    .option('--parent <snapshot>', 'snapshot whose unchanged files are reused (default: latest with the same paths)')
    .option('--force', 're-read every file instead of reusing unchanged ones from the parent')
    .option('--type <type>', 'database sources: full | diff | incr (logical dumps and SQLite copies are always full)')
    .action(async (paths: string[], flags: BackupFlags) => {
      process.exitCode = await runBackup(ctx(), paths, flags);
    });
}


/** What a files source backs up: its paths (with those its audit file lists), excludes and tags. */
export async function filesSourceSpec(ctx: Context, src: FilesSource): Promise<{ paths: string[]; auditExclude: Excluder | undefined; excludes: string[]; tags: string[] }> {
  let paths = [...(src.paths ?? [])];
  let auditExclude: Excluder | undefined;
  if (src.from_audit !== undefined) ({ paths, exclude: auditExclude } = await pathsFromAudit(src.from_audit, paths, ctx.out));
  return { paths, auditExclude, excludes: [...(src.exclude ?? [])], tags: [...(src.tags ?? [])] };
}

/**
 * Backs a files source up into one snapshot with extra tags, quietly: every file read afresh, no parent, unreadable
 * files as warnings. `everything`: the source's paths whole, without its excludes or audit list (the quarantine copy
 * of `rollback attack` keeps all the evidence), except the folders in `skip` (a repository kept inside them).
 */
export async function backupFilesSource(ctx: Context, repo: Repository, src: FilesSource, extraTags: readonly string[], o: { everything?: boolean; skip?: readonly string[] } = {}): Promise<{ snapshotId: string; snapshot: Snapshot }> {
  const spec = await filesSourceSpec(ctx, src);
  await repo.loadIndex();
  const skip = (o.skip ?? []).map((p) => resolve(p));
  const skipped = (p: string): boolean => skip.some((d) => p === d || p.startsWith(`${d}/`));
  const excluder = o.everything ? skipped : orExclude(makeExcluder(spec.excludes), spec.auditExclude);
  const r = await backup(repo, {
    paths: [...new Set(spec.paths.map((p) => resolve(p)))],
    excluder,
    excludes: o.everything ? [] : spec.excludes,
    tags: [...new Set([...spec.tags, ...extraTags])],
    source: src.name,
    parent: null,
    onWarning: (path, message) => ctx.out.warn(`${path}: ${message}`),
  });
  return { snapshotId: r.snapshotId, snapshot: r.snapshot };
}

export async function runBackup(ctx: Context, argPaths: string[], flags: BackupFlags): Promise<number> {
  let paths = argPaths;
  let excludes = [...flags.exclude];
  let tags = [...flags.tag];
  let sourceName: string | undefined;
  let auditExclude: Excluder | undefined;
  if (flags.source) {
    const cfg = await ctx.requireConfig();
    const src = findSource(cfg, flags.source);
    if (paths.length > 0) throw new UsageError('give either paths or --source, not both');
    if (isDatabaseSource(src)) return runDatabaseBackup(ctx, src, flags);
    if (flags.type !== undefined) throw new UsageError('--type applies to database sources');
    const spec = await filesSourceSpec(ctx, src);
    ({ paths, auditExclude } = spec);
    excludes = [...excludes, ...spec.excludes];
    tags = [...tags, ...spec.tags];
    sourceName = src.name;
  }
  if (paths.length === 0) throw new UsageError('nothing to back up: give paths or --source NAME');
  for (const f of flags.excludeFile) excludes.push(...(await readExcludeFile(f)));
  excludes = excludes.map((e) => e.trim()).filter((e) => e !== '' && !e.startsWith('#'));
  const abs = [...new Set(paths.map((p) => resolve(p)))];
  const excluder = orExclude(makeExcluder(excludes), auditExclude);
  const out = ctx.out;

  return ctx.withRepository('backup', 'shared', async (repo) => {
    await repo.loadIndex();
    let parent = null;
    if (!flags.force) {
      if (flags.parent) {
        parent = await findSnapshot(repo, flags.parent);
      } else {
        const candidates = await loadSnapshots(repo, { paths: abs, host: flags.host ?? hostname(), ...(sourceName ? { source: sourceName } : {}) });
        parent = candidates.at(-1) ?? null;
      }
    }
    if (parent) out.info(`using parent snapshot ${shortId(parent.id)}`);
    const started = Date.now();
    const total = { files: 0, bytes: 0, done: false };
    const scanAbort = new AbortController();
    if (out.tty || out.json) {
      void scan(abs, excluder, (files, bytes) => Object.assign(total, { files, bytes }), scanAbort.signal).then(() => (total.done = true));
    }
    const show = throttle(out.json ? 1000 : 150, (p: ArchiveProgress) => {
      const secs = (Date.now() - started) / 1000;
      const pct = total.done && total.bytes > 0 ? Math.min(1, p.bytes / total.bytes) : 0;
      const eta = pct > 0 && pct < 1 ? (secs / pct) * (1 - pct) : NaN;
      if (out.json) {
        out.event({ message_type: 'status', operation: 'backup', seconds_elapsed: Math.round(secs), seconds_remaining: Number.isNaN(eta) ? null : Math.round(eta), percent_done: pct, total_files: total.files, files_done: p.files, total_bytes: total.bytes, bytes_done: p.bytes, current_files: [p.currentFile] });
      } else {
        out.status(
          `[${formatSeconds(secs)}] ${total.done ? `${(pct * 100).toFixed(1)}%  ` : ''}${p.files}${total.files ? `/${total.files}` : ''} files ${formatBytes(p.bytes)}${total.bytes ? `/${formatBytes(total.bytes)}` : ''}  ${formatRate(p.bytes, secs)}  ETA ${formatSeconds(eta)}  ${p.currentFile}`,
        );
      }
    });
    const result = await backup(repo, {
      paths: abs,
      excluder,
      excludes,
      oneFileSystem: flags.oneFileSystem ?? false,
      tags,
      source: sourceName ?? null,
      ...(flags.host ? { host: flags.host } : {}),
      parent,
      onProgress: show,
      onWarning: (path, message) => {
        out.warn(`${path}: ${message}`);
        out.event({ message_type: 'error', error: { message }, during: 'archival', item: path });
      },
    }).finally(() => scanAbort.abort());
    out.clearStatus();
    const s = result.snapshot.summary;
    out.event({ message_type: 'summary', ...s, snapshot_id: result.snapshotId, complete: result.snapshot.complete });
    out.info(`Files:       ${s.files_new} new, ${s.files_changed} changed, ${s.files_unmodified} unmodified`);
    out.info(`Dirs:        ${s.dirs_new} new, ${s.dirs_changed} changed, ${s.dirs_unmodified} unmodified`);
    out.info(`Added to the repository: ${formatBytes(s.data_added)}`);
    out.info(`processed ${s.total_files_processed} files, ${formatBytes(s.total_bytes_processed)} in ${formatSeconds(s.total_duration)} (${formatRate(s.total_bytes_processed, s.total_duration)})`);
    out.info(`snapshot ${shortId(result.snapshotId)} saved${result.snapshot.complete ? '' : ` (incomplete: ${result.snapshot.warnings.length} files could not be read)`}`);
    return result.snapshot.complete ? ExitCode.ok : ExitCode.incomplete;
  }, sourceName);
}
