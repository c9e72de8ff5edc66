import type { Command } from 'commander';
import { checkRepository } from '../verify/check.js';
import { repairIndex } from '../repo/repair.js';
import { shortId } from '../repo/ids.js';
import { IntegrityError, UsageError, errorMessage } from '../util/errors.js';
import type { Context } from './context.js';
import { baseOf, targetsOf } from '../storage/open.js';
import { parseDuration } from '../config/duration.js';
import { progress } from './progress.js';
import { recordOperation } from './journal-record.js';

export function registerCheck(program: Command, ctx: () => Context): void {
  program
    .command('check')
    .description('verify the repository: structure always; with --read-data every byte of the data')
    .option('--read-data', 'download, decrypt and verify every blob of every pack')
    .option('--read-data-subset <n%|n/t>', 'verify a random share of the packs (10%), or slice n of t (1/5: run 1/5 … 5/5 to read every pack once, as the daemon rotates)')
    .action(async (f: { readData?: boolean; readDataSubset?: string }) => {
      const c = ctx();
      const subset = f.readData || !f.readDataSubset ? null : parseSubset(f.readDataSubset);
      const share = f.readData ? 1 : typeof subset === 'number' ? subset : subset ? 1 / subset.t : 0;
      const slice = subset && typeof subset === 'object' ? subset : undefined;
      let failed = 0;
      const failures: string[] = [];
      const started = new Date().toISOString();
      let checkedSnapshots = 0;
      // each target is checked as a repository of its own: a damaged copy on one must not hide behind the other
      await c.forEachTarget('check', async (repo, location) => {
        const p = progress(c.out, 'check');
        const phases: Record<string, string> = { snapshots: 'checking snapshots and trees', 'read-data': 'reading packs' };
        const r = await checkRepository(repo, { readData: slice ? 0 : share, ...(slice ? { slice } : {}), onProgress: (phase, done, total) => p({ phase: `${location}: ${phases[phase] ?? phase}`, done, total }) });
        p.end();
        for (const w of r.warnings) c.out.warn(`${location}: ${w}`);
        for (const p of r.problems) {
          c.out.event({ message_type: 'error', target: location, kind: p.kind, id: p.id, message: p.message, snapshots: p.snapshots });
          process.stderr.write(`error: ${location}: ${p.message}${p.snapshots.length ? `; affects snapshots ${p.snapshots.map(shortId).join(', ')}` : ''}\n`);
        }
        c.out.event({ message_type: 'summary', target: location, snapshots: r.snapshots, packs: r.packs, packs_read: r.packsRead, blobs_read: r.blobsRead, errors: r.problems.length, warnings: r.warnings.length, lagging: r.lagging });
        for (const l of r.lagging) c.out.warn(`${location}: target ${l.location} has been missing writes since ${l.since} (${l.reason}): run \`safepoint sync\``);
        c.out.info(`${location}: checked ${r.snapshots} snapshots, ${r.packs} packs${share > 0 ? `; read ${r.packsRead} packs, ${r.blobsRead} blobs` : ''}: ${r.problems.length === 0 ? 'no errors' : `${r.problems.length} problems`}`);
        checkedSnapshots = Math.max(checkedSnapshots, r.snapshots);
        if (r.problems.length > 0) {
          failed += r.problems.length;
          failures.push(location);
        }
      }, (location, err) => {
        failed++;
        failures.push(location);
        c.out.event({ message_type: 'error', target: location, kind: 'target', id: null, message: errorMessage(err), snapshots: [] });
        process.stderr.write(`error: ${location}: cannot be opened: ${errorMessage(err)}\n`);
      });
      await journalCheck(c, { started, share, failed, failures, snapshots: checkedSnapshots });
      if (failed > 0) throw new IntegrityError(`check found ${failed} problems (in ${failures.join(', ')}; see above)`);
      c.out.info('no errors were found');
    });
}

/** Records the check in the repository's journal (once, through all its targets): `status` reads the last one. */
async function journalCheck(c: Context, r: { started: string; share: number; failed: number; failures: string[]; snapshots: number }): Promise<void> {
  await recordOperation(c, {
    operation: 'check',
    source: null,
    started: r.started,
    result: r.failed > 0 ? 'failed' : 'ok',
    ...(r.failed > 0 ? { error: `${r.failed} problems in ${r.failures.join(', ')}` } : {}),
    inputs: { read_data_share: r.share },
    figures: { read_data_share: r.share, snapshots: r.snapshots, problems: r.failed, seconds: (Date.now() - Date.parse(r.started)) / 1000 },
  });
}

/** `safepoint repair index`: rebuild the index from the packs' headers. */
export function registerRepair(program: Command, ctx: () => Context): void {
  const repair = program.command('repair').description('repair a damaged repository');
  repair
    .command('index')
    .description('rebuild the index from the pack headers (after a damaged or lost index file)')
    .action(async () => {
      const c = ctx();
      await c.withRepository('repair index', 'exclusive', async (repo) => {
        repo.requireAdmin('repair index');
        const p = progress(c.out, 'repair index');
        const r = await repairIndex(repo, (done, total) => p({ phase: 'reading pack headers', done, total }), (m) => c.out.warn(m));
        p.end();
        c.out.event({ message_type: 'summary', packs: r.packs, blobs: r.blobs, old_index_files: r.oldIndexFiles, unreadable_packs: r.unreadablePacks });
        c.out.info(`wrote a new index: ${r.packs} packs, ${r.blobs} blobs (replaces ${r.oldIndexFiles} index files)`);
        if (r.unreadablePacks.length > 0) throw new IntegrityError(`${r.unreadablePacks.length} packs could not be read and were left out: run \`safepoint check\` to see the snapshots they hurt`);
      }, undefined, { allTargets: true });
    });
  repair
    .command('revert')
    .description('make the repository read as it was at a point in time on its versioned targets (S3 with Object Lock): undoes the deletions and overwrites made since, e.g. by an attacker holding the backup credentials')
    .requiredOption('--to <time>', 'a date and time (2026-11-29T10:00:00Z), or a duration ago (2h, 3d)')
    .action(async (f: { to: string }) => {
      const c = ctx();
      const to = parsePointInTime(f.to);
      const spec = await c.repoSpec();
      if (spec.appendOnly) throw new UsageError('repair revert deletes object versions, and this client is append-only: run it on a client without append_only');
      const storage = await c.openStorage({ ...spec, minTargets: 1 });
      try {
        const versioned = targetsOf(storage).map(baseOf).filter((t) => t.revertTo);
        if (versioned.length === 0) throw new UsageError('no target of this repository keeps versions (revert needs an S3 bucket with versioning or Object Lock)');
        let failed = 0;
        for (const t of versioned) {
          const r = await t.revertTo!(to);
          c.out.event({ message_type: 'reverted', target: t.properties().location, objects: r.reverted, failed: r.failed, to: to.toISOString() });
          c.out.info(`${t.properties().location}: ${r.reverted} objects read again as they were at ${to.toISOString()}`);
          for (const x of r.failed) process.stderr.write(`error: ${t.properties().location}: ${x}\n`);
          failed += r.failed.length;
        }
        if (failed > 0) throw new IntegrityError(`${failed} objects could not be reverted (see above)`);
        c.out.info('run `safepoint check --read-data` to confirm the repository is whole');
      } finally {
        await storage.close();
      }
    });
}

/** `--to TIME`: an ISO date/time, or a duration meaning that long ago (`2h`, `3d`). */
export function parsePointInTime(text: string, now = new Date()): Date {
  if (/^\d+(ms|s|m|h|d|w)$/.test(text.trim())) return new Date(now.getTime() - parseDuration(text.trim()));
  const t = new Date(text);
  if (Number.isNaN(t.getTime())) throw new UsageError(`${text}: expected a date and time (2026-11-29T10:00:00Z) or a duration ago (2h, 3d)`);
  return t;
}

function parseSubset(text: string): number | { n: number; t: number } {
  const s = /^(\d+)\/(\d+)$/.exec(text.trim());
  if (s) {
    const n = Number(s[1]);
    const t = Number(s[2]);
    if (!(t >= 1 && n >= 1 && n <= t)) throw new UsageError(`--read-data-subset ${text}: expected n/t with 1 ≤ n ≤ t, e.g. 1/5`);
    return { n, t };
  }
  const m = /^(\d+(?:\.\d+)?)%$/.exec(text.trim());
  const frac = m ? Number(m[1]) / 100 : NaN;
  if (!(frac > 0 && frac <= 1)) throw new UsageError(`--read-data-subset ${text}: expected a percentage between 0% and 100% (10%) or a slice n/t (1/5)`);
  return frac;
}
