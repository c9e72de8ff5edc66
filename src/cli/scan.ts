import type { Command } from 'commander';
import { formatSnapshotTime, isContinuous, loadSnapshots, type SnapshotWithId } from '../repo/snapshot.js';
import { shortId } from '../repo/ids.js';
import { scanSource, type ScanResult } from '../scan/index.js';
import { ExitCode, UsageError } from '../util/errors.js';
import { table } from '../util/format.js';
import type { Context } from './context.js';
import { progress } from './progress.js';

interface ScanFlags {
  source?: string;
}

export function registerScan(program: Command, ctx: () => Context): void {
  program
    .command('scan')
    .description(`look for ransomware in the snapshot history: mass changes, encrypted file heads, renames to new extensions, ransom notes, scripts in web folders, database rows lost (exit ${ExitCode.suspicious} when a snapshot is suspicious)`)
    .option('--source <name>', 'only the snapshots of this source')
    .action(async (f: ScanFlags) => {
      process.exitCode = await runScan(ctx(), f);
    });
}

/** A source's snapshots; those without a source name are grouped by host and paths, as forget does. */
interface Group {
  readonly label: string;
  readonly snapshots: SnapshotWithId[];
}

async function runScan(c: Context, f: ScanFlags): Promise<number> {
  return c.withRepository('scan', 'shared', async (repo) => {
    const all = (await loadSnapshots(repo)).filter((s) => !isContinuous(s));
    const groups = groupBySource(f.source === undefined ? all : all.filter((s) => s.source === f.source));
    if (f.source !== undefined && groups.length === 0) {
      const cfg = await c.config();
      if (!cfg?.sources.some((s) => s.name === f.source)) {
        const known = [...new Set(all.map((s) => s.source).filter((s): s is string => s !== null))].sort();
        throw new UsageError(`no snapshots of source "${f.source}" in the repository${known.length > 0 ? ` (sources with snapshots: ${known.join(', ')})` : ''}`);
      }
      c.out.info(`source ${f.source} has no snapshots yet: nothing to scan`);
    }
    const results: ScanResult[] = [];
    // --json prints one array: the progress stays on the terminal
    const p = progress(c.out, 'scan', { events: false });
    for (const [i, g] of groups.entries()) {
      const found = await scanSource(repo, g.snapshots, { onProgress: (x) => p({ phase: `scanning ${g.label}${groups.length > 1 ? ` (source ${i + 1}/${groups.length})` : ''}`, done: x.done, total: x.total, detail: `snapshot ${shortId(x.snapshot_id)}` }) });
      p.end();
      for (const r of found) if (r.figures.heads_unreadable > 0) c.out.warn(`snapshot ${shortId(r.snapshot_id)}: ${r.figures.heads_unreadable} first chunks could not be read (run \`safepoint check --read-data\`)`);
      printGroup(c, g, found);
      results.push(...found);
    }
    const suspicious = results.filter((r) => r.suspicious);
    if (c.out.json) process.stdout.write(JSON.stringify(results.map((r) => ({ snapshot_id: r.snapshot_id, time: r.time, suspicious: r.suspicious, score: r.score, reasons: r.reasons }))) + '\n');
    if (suspicious.length > 0) {
      c.out.info(`${suspicious.length} of ${results.length} snapshots suspicious: ${suspicious.map((r) => shortId(r.snapshot_id)).join(', ')}: look at their files before restoring from them (safepoint diff, ls)`);
      return ExitCode.suspicious;
    }
    c.out.info(`no suspicious snapshot (${results.length} snapshots of ${groups.length} source${groups.length === 1 ? '' : 's'} scanned)`);
    return ExitCode.ok;
  }, f.source);
}

function groupBySource(snapshots: readonly SnapshotWithId[]): Group[] {
  const groups = new Map<string, Group>();
  for (const s of snapshots) {
    const label = s.source ?? `${s.host}:${[...s.paths].sort().join(',')}`;
    const g = groups.get(label) ?? { label, snapshots: [] };
    g.snapshots.push(s);
    groups.set(label, g);
  }
  return [...groups.values()];
}

function printGroup(c: Context, g: Group, results: readonly ScanResult[]): void {
  const flagged = results.filter((r) => r.suspicious).length;
  c.out.info(`${g.snapshots[0]?.source !== null ? 'source ' : ''}${g.label}: ${results.length} snapshots, ${flagged} suspicious`);
  const rows: string[][] = [['ID', 'Time', 'Verdict', 'Score', 'Reasons']];
  const byId = new Map(g.snapshots.map((s) => [s.id, s]));
  for (const r of results) {
    const verdict = r.suspicious ? 'SUSPICIOUS' : r.figures.files_before === null ? 'first' : 'ok';
    const [first = '', ...rest] = r.reasons;
    rows.push([shortId(r.snapshot_id), formatSnapshotTime(byId.get(r.snapshot_id)!), verdict, r.score.toFixed(2), first]);
    for (const reason of rest) rows.push(['', '', '', '', reason]);
  }
  c.out.info(table(rows));
  c.out.info('');
}
