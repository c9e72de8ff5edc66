import type { Command } from 'commander';
import { copySnapshots } from '../repo/copy.js';
import { withLock } from '../repo/lock.js';
import { loadSnapshots } from '../repo/snapshot.js';
import { syncTargets } from '../repo/sync.js';
import { targetsOf } from '../storage/open.js';
import { IntegrityError, UsageError } from '../util/errors.js';
import { formatBytes } from '../util/format.js';
import { shortId } from '../repo/ids.js';
import type { Context } from './context.js';
import { readPassword } from './password.js';
import { progress } from './progress.js';

export function registerSync(program: Command, ctx: () => Context): void {
  program
    .command('sync')
    .description('bring every target of a repository up to date (copies what a target that was down missed; never deletes)')
    .option('-n, --dry-run', 'only show what each target lacks')
    .action(async (f: { dryRun?: boolean }) => {
      const c = ctx();
      const spec = await c.repoSpec();
      if (spec.targets.length < 2) throw new UsageError('sync needs a repository with several targets (repositories.<name>.targets in safepoint.yaml)');
      const storage = await c.openStorage({ ...spec, minTargets: 1 });
      try {
        const p = progress(c.out, 'sync');
        const reports = await syncTargets(targetsOf(storage), { dryRun: f.dryRun === true, onProgress: (x) => p({ phase: `${x.location}: objects`, done: x.done, total: x.total, detail: formatBytes(x.bytes) }) });
        p.end();
        let problems = 0;
        for (const r of reports) {
          c.out.event({ message_type: 'target', location: r.location, copied: r.copied, bytes: r.bytes, differing: r.differing, failed: r.failed, dry_run: f.dryRun === true });
          const verb = f.dryRun ? 'lacks' : 'received';
          c.out.info(`${r.location}: ${r.copied === 0 ? 'up to date' : `${verb} ${r.copied} objects (${formatBytes(r.bytes)})`}`);
          for (const d of r.differing) c.out.warn(`${r.location}: ${d} differs from the other targets' copy (damaged?): run \`safepoint check --read-data\``);
          for (const x of r.failed) process.stderr.write(`error: ${r.location}: ${x.name}: ${x.error}\n`);
          problems += r.failed.length + r.differing.length;
        }
        if (problems > 0) throw new IntegrityError(`sync left ${problems} problems (see above)`);
      } finally {
        await storage.close();
      }
    });

  program
    .command('copy')
    .description('copy snapshots to another repository (its own keys and targets); already copied ones are skipped')
    .requiredOption('--from <repo>', 'source repository: a path, URL or name from the config')
    .requiredOption('--to <repo>', 'destination repository: a path, URL or name from the config')
    .option('--from-password-file <file>', 'password of the source (default: SAFEPOINT_FROM_PASSWORD, else as for --repo)')
    .option('--to-password-file <file>', 'password of the destination (default: SAFEPOINT_TO_PASSWORD, else as for --repo)')
    .option('--source <name>', 'only snapshots of this source')
    .option('--host <host>', 'only snapshots from this host')
    .option('--tag <tag>', 'only snapshots with this tag')
    .argument('[snapshot...]', 'snapshot ids (default: all that match the filters)')
    .action(async (ids: string[], f: { from: string; to: string; fromPasswordFile?: string; toPasswordFile?: string; source?: string; host?: string; tag?: string }) => {
      const c = ctx();
      const [fromSpec, toSpec] = [await c.repoSpec(undefined, f.from), await c.repoSpec(undefined, f.to)];
      const pw = (file: string | undefined, envName: string, configFile: string | undefined) =>
        readPassword({ passwordFile: file, env: c.env[envName] !== undefined ? { ...c.env, SAFEPOINT_PASSWORD: c.env[envName] } : c.env, configPasswordFile: configFile });
      const src = await c.openRepositoryOn(fromSpec, await pw(f.fromPasswordFile, 'SAFEPOINT_FROM_PASSWORD', fromSpec.passwordFile));
      try {
        const dst = await c.openRepositoryOn(toSpec, await pw(f.toPasswordFile, 'SAFEPOINT_TO_PASSWORD', toSpec.passwordFile));
        try {
          if (dst.config.id === src.config.id) throw new UsageError('--from and --to are the same repository');
          await withLock(src, 'copy', false, () =>
            withLock(dst, 'copy', false, async () => {
              const all = await loadSnapshots(src, { ...(f.source ? { source: f.source } : {}), ...(f.host ? { host: f.host } : {}), ...(f.tag ? { tags: [f.tag] } : {}) });
              const chosen = ids.length === 0 ? all : await Promise.all(ids.map(async (ref) => {
                const id = await src.resolveId('snapshots', ref);
                const sn = all.find((s) => s.id === id);
                if (!sn) throw new UsageError(`snapshot ${ref} does not match --source/--host/--tag`);
                return sn;
              }));
              const p = progress(c.out, 'copy');
              const r = await copySnapshots(src, dst, chosen, (x) => p({ phase: 'copying snapshots', done: chosen.findIndex((s) => s.id === x.snapshot), total: chosen.length, detail: `snapshot ${shortId(x.snapshot)}: ${x.blobsCopied} blobs, ${formatBytes(x.bytesCopied)}` }));
              p.end();
              for (const [from, to] of r.copied) {
                const skipped = r.skipped.includes(from);
                c.out.event({ message_type: 'copied', from, to, skipped });
                c.out.info(`snapshot ${shortId(from)} ${skipped ? 'was already copied as' : 'copied as'} ${shortId(to)}`);
              }
              c.out.event({ message_type: 'summary', copied: r.copied.size - r.skipped.length, skipped: r.skipped.length, blobs: r.blobsCopied, bytes: r.bytesCopied });
              c.out.info(`${r.copied.size - r.skipped.length} snapshots copied, ${r.skipped.length} already there; ${r.blobsCopied} new blobs, ${formatBytes(r.bytesCopied)}`);
            }, (m) => c.out.warn(m)),
          (m) => c.out.warn(m));
        } finally {
          await dst.close();
        }
      } finally {
        await src.close();
      }
    });
}
