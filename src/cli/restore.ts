import type { Command } from 'commander';
import { findSnapshot } from '../repo/snapshot.js';
import { restoreTree } from '../snapshot/restorer.js';
import { shortId } from '../repo/ids.js';
import { IntegrityError } from '../util/errors.js';
import { formatBytes, formatRate, formatSeconds } from '../util/format.js';
import type { Context } from './context.js';
import { collect } from './options.js';
import { throttle } from './output.js';

interface RestoreFlags {
  target: string;
  include: string[];
  exclude: string[];
  verify?: boolean;
  overwrite?: boolean;
  source?: string;
  host?: string;
  tag: string[];
}


export function registerRestore(program: Command, ctx: () => Context): void {
  program
    .command('restore')
    .description('restore a snapshot into a folder (DIR/<name of each backed-up path>/...)')
    .argument('<snapshot>', 'snapshot id (or a unique prefix), or "latest"')
    .requiredOption('-t, --target <dir>', 'folder to restore into (must be empty unless --overwrite)')
    .option('-i, --include <glob>', 'restore only matching paths, relative to the snapshot root, e.g. "app/config/**" (repeatable)', collect, [])
    .option('-e, --exclude <glob>', 'skip matching paths (repeatable)', collect, [])
    .option('--verify', 're-read every restored file and check it against the snapshot')
    .option('--overwrite', 'restore into a non-empty folder, replacing what is there')
    .option('--source <name>', 'with "latest": the latest snapshot of this source')
    .option('--host <name>', 'with "latest": the latest snapshot from this host')
    .option('--tag <tag>', 'with "latest": the latest snapshot with this tag (repeatable)', collect, [])
    .action(async (ref: string, flags: RestoreFlags) => {
      process.exitCode = await runRestore(ctx(), ref, flags);
    });
}

async function runRestore(ctx: Context, ref: string, flags: RestoreFlags): Promise<number> {
  const out = ctx.out;
  return ctx.withRepository('restore', 'shared', async (repo) => {
    const sn = await findSnapshot(repo, ref, { ...(flags.source ? { source: flags.source } : {}), ...(flags.host ? { host: flags.host } : {}), tags: flags.tag });
    await repo.loadIndex();
    out.info(`restoring snapshot ${shortId(sn.id)} of ${sn.paths.join(', ')} at ${sn.time} to ${flags.target}`);
    const started = Date.now();
    const show = throttle(out.json ? 1000 : 150, (p: { files: number; bytes: number; totalFiles: number; totalBytes: number }) => {
      const secs = (Date.now() - started) / 1000;
      const pct = p.totalBytes > 0 ? p.bytes / p.totalBytes : 1;
      if (out.json) out.event({ message_type: 'status', seconds_elapsed: Math.round(secs), percent_done: pct, total_files: p.totalFiles, files_restored: p.files, total_bytes: p.totalBytes, bytes_restored: p.bytes });
      else out.status(`[${formatSeconds(secs)}] ${(pct * 100).toFixed(1)}%  ${p.files}/${p.totalFiles} files ${formatBytes(p.bytes)}/${formatBytes(p.totalBytes)}  ${formatRate(p.bytes, secs)}  ETA ${formatSeconds(pct > 0 ? (secs / pct) * (1 - pct) : NaN)}`);
    });
    const r = await restoreTree(repo, sn.tree, {
      target: flags.target,
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
