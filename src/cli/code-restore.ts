/**
 * `safepoint restore code --point P | --rev R --into DIR` (mission §3.1): clone the repository at that revision,
 * restore the configuration from the last valid backup at or before it, run the deployment scripts, run the health
 * checks — a plan of steps, each Success / Error / NotExecuted with its duration (`--dry-run` prints it).
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { SourceConfig } from '../config/schema.js';
import { checkoutFromBundle, cloneAt, ensureEmpty } from '../deploy/checkout.js';
import { placeSnapshot } from '../deploy/config-restore.js';
import { commitInfo, workTree } from '../git/git.js';
import { findPoint, type RestorePoint } from '../git/restore-point.js';
import { codeSources } from '../config/lookup.js';
import { shortId } from '../repo/ids.js';
import { findSnapshot, loadSnapshots, type SnapshotWithId } from '../repo/snapshot.js';
import type { PlanStep } from '../restore/plan.js';
import { checkHealth } from '../restore/services.js';
import { runScripts } from '../deploy/release-steps.js';
import { readStream } from '../snapshot/stream-backup.js';
import { IntegrityError, SafepointError, UsageError, UserError, errorMessage } from '../util/errors.js';
import type { Context } from './context.js';
import { runReportedPlan } from './plan-output.js';
import { loadPoints } from './point.js';

export interface CodeRestoreFlags {
  point?: string;
  rev?: string;
  into?: string;
  dryRun?: boolean;
  fromBundle?: boolean;
  gitDir?: string;
}


/**
 * Where a backed-up configuration path goes in a checkout: at its place in the project when it lies in the work
 * tree, at its place under `shared_dir` when it lies there (how a release sees the shared files), else by its name.
 */
export function configPlacement(into: string, projectRoot: string | null, sharedDir: string | undefined): (path: string) => string {
  const inside = (root: string, p: string): string | null => {
    const rel = relative(root, p);
    return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : null;
  };
  return (path) => {
    const rel = (projectRoot ? inside(projectRoot, path) : null) ?? (sharedDir ? inside(sharedDir, path) : null);
    return join(into, rel ?? (path.split('/').filter(Boolean).at(-1) ?? 'root'));
  };
}

/** Writes a snapshot's stream to a file (every chunk verified on the way). */
export async function writeSnapshotStream(c: Context, repository: string, snapshotId: string, name: string, file: string): Promise<void> {
  await c.withRepository('restore', 'shared', async (repo) => {
    const sn = await findSnapshot(repo, snapshotId);
    await pipeline(Readable.from(readStream(repo, sn, name)), createWriteStream(file, { mode: 0o600 }));
  }, undefined, { repository });
}

/** The configuration snapshots to try for a source, newest first: the point's, else complete ones at or before `until`. */
async function candidates(c: Context, source: SourceConfig, point: RestorePoint | null, until: Date): Promise<SnapshotWithId[]> {
  return c.withRepository('restore', 'none', async (repo) => {
    const all = (await loadSnapshots(repo, { source: source.name })).filter((s) => s.complete && !s.tags.includes('safety'));
    const own = point?.snapshots.find((s) => s.source === source.name);
    const before = all.filter((s) => Date.parse(s.time) <= until.getTime()).reverse();
    const first = own ? all.find((s) => s.id === own.id) : undefined;
    return [...(first ? [first] : []), ...before.filter((s) => s.id !== first?.id)];
  }, source.name);
}

export async function runCodeRestore(c: Context, f: CodeRestoreFlags): Promise<number> {
  const cfg = await c.requireConfig();
  if (f.into === undefined) throw new UsageError('restore code needs --into DIR: a new folder for the checkout (the live release is never touched)');
  if ((f.point === undefined) === (f.rev === undefined)) throw new UsageError('restore code needs --point P (a restore point) or --rev R (a git revision), one of them');
  const into = resolve(f.into);
  await ensureEmpty(into);
  const root = await workTree(f.gitDir ?? cfg.dir).catch(() => null);
  const from = cfg.deploy?.git ?? root;
  if (!from) throw new UsageError('no git repository to restore code from: set deploy.git in safepoint.yaml, or run from the project\'s checkout');
  let point: RestorePoint | null = null;
  if (f.point !== undefined) {
    const { points, prefix } = await loadPoints(c, f.gitDir);
    const s = findPoint(points.map((x) => ({ ...x, tag: x.point.tag })), f.point, prefix);
    point = s.point;
    for (const a of s.absent) c.out.warn(`restore point ${point.tag}: ${a}`);
  }
  const rev = point?.commit ?? f.rev!;
  const sources = codeSources(cfg);
  const deploy = cfg.deploy;
  let commit: string | null = null;
  const env = (): NodeJS.ProcessEnv => ({ ...process.env, SAFEPOINT_RELEASE: into, SAFEPOINT_COMMIT: commit ?? '', ...(point ? { SAFEPOINT_POINT: point.tag } : {}) });

  const cloneFromBundle = async (): Promise<string> => {
    if (!point?.bundle) throw new UserError(`no git bundle for ${point ? point.tag : `--rev ${rev}`}: only restore points made with a bundle can be restored without the git server`);
    const repository = point.bundle.source.slice(point.bundle.source.lastIndexOf('@') + 1);
    const tmp = await mkdtemp(join(tmpdir(), 'safepoint-bundle-'));
    try {
      await writeSnapshotStream(c, repository, point.bundle.id, 'repository.bundle', join(tmp, 'repository.bundle'));
      return await checkoutFromBundle(join(tmp, 'repository.bundle'), point.commit, into);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  };

  const steps: PlanStep[] = [
    {
      name: `clone ${f.fromBundle ? 'the git bundle' : from} at ${point ? `${point.tag} (${point.commit.slice(0, 12)})` : rev}`,
      run: async () => {
        if (f.fromBundle) {
          commit = await cloneFromBundle();
          return `checked out ${commit.slice(0, 12)} from the git bundle in snapshot ${shortId(point!.bundle!.id)}`;
        }
        try {
          commit = await cloneAt(from, rev, into);
          return `checked out ${commit.slice(0, 12)} into ${into}`;
        } catch (err) {
          if (!point?.bundle) throw err;
          // the git server is gone or lost the commit: the bundle kept with the point has it
          commit = await cloneFromBundle();
          return `${from} failed (${errorMessage(err)}); checked out ${commit.slice(0, 12)} from the git bundle in snapshot ${shortId(point.bundle.id)}`;
        }
      },
      onFailure: () => `nothing was written to ${into}`,
    },
    {
      name: 'restore the configuration from the last valid backup',
      run: async () => {
        if (sources.length === 0) return { skipped: 'no files source holds configuration' };
        const until = point ? new Date(point.created) : new Date((await commitInfo(into, 'HEAD')).time);
        const place = configPlacement(into, root, deploy?.shared_dir);
        const done: string[] = [];
        for (const source of sources) {
          const tries = (await candidates(c, source, point, until)).slice(0, 3);
          if (tries.length === 0) {
            done.push(`${source.name}: no complete backup at or before ${until.toISOString()}, not restored`);
            continue;
          }
          let placed = false;
          const bad: string[] = [];
          for (const sn of tries) {
            try {
              const r = await c.withRepository('restore', 'shared', async (repo) => {
                await repo.loadIndex();
                return placeSnapshot(repo, sn, place, true);
              }, source.name);
              // what the checkout had there is in git: the backed-up configuration replaces it
              for (const p of r) if (p.aside) await rm(p.aside, { recursive: true, force: true });
              done.push(`${source.name}: snapshot ${shortId(sn.id)} of ${sn.time} (verified) → ${r.map((p) => relative(into, p.dest) || '.').join(', ')}${bad.length > 0 ? ` (skipped damaged ${bad.join(', ')})` : ''}`);
              placed = true;
              break;
            } catch (err) {
              if (!(err instanceof IntegrityError)) throw err;
              bad.push(shortId(sn.id));
            }
          }
          if (!placed) throw new IntegrityError(`${source.name}: the last ${tries.length} backups are damaged (${bad.join(', ')}): run \`safepoint check --read-data\``);
        }
        return done.join('; ');
      },
      onFailure: () => `the code is checked out in ${into}; fix the configuration backup and restore again into a new folder`,
    },
    {
      name: 'run the deployment scripts',
      run: async () => {
        const scripts = deploy?.scripts ?? [];
        if (scripts.length === 0) return { skipped: 'no deploy.scripts in safepoint.yaml' };
        const ran = await runScripts(scripts, { cwd: into, env: env(), timeoutMs: deploy?.script_timeout ?? 15 * 60_000, onRun: (run) => c.out.event({ message_type: 'script', ...run }) });
        return ran.join(', ');
      },
      onFailure: () => `the code and configuration are in ${into}; fix the script and run it there by hand`,
    },
    {
      name: 'run the health checks',
      run: async () => (deploy?.health ? checkHealth(deploy.health, { cwd: into, env: env() }) : { skipped: 'no deploy.health in safepoint.yaml' }),
      onFailure: () => `${into} holds the restored release; it does not pass its health check`,
    },
  ];
  c.out.info(`${f.dryRun ? 'plan to restore' : 'restoring'} code and configuration at ${point ? point.tag : rev} into ${into}`);
  const { ok, reports, total } = await runReportedPlan(c, steps, f.dryRun ?? false, { operation: 'restore code' });
  c.out.event({ message_type: 'summary', ok, into, commit, point: point?.tag ?? null, total_duration: total, dry_run: f.dryRun ?? false });
  if (!ok) {
    const failed = reports.find((r) => r.status === 'error');
    throw new SafepointError(`restore code stopped at step ${failed?.step ?? '?'} (${failed?.name ?? ''}): see the report above`);
  }
  c.out.info(f.dryRun ? 'dry run: nothing was changed' : `code and configuration restored into ${into} in ${total.toFixed(2)} s`);
  return 0;
}
