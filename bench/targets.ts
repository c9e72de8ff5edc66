// Storage targets benchmark (issue 3): safepoint backup + restore of the dataset to a local path, to S3 on loopback
// (a real Ceph RGW, bluestore on disk) and to a two-target mirror (local + S3); restic to the same S3 as the anchor.
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { runMeasured, syncDisks } from './measure.js';
import type { Tool } from './tools.js';
import { verifyTree } from './tree.js';
import { startRgw, type Rgw } from '../test/services/rgw.js';

export interface TargetRow {
  readonly name: string;
  readonly backupSeconds: number | null;
  readonly backupRss: number | null;
  readonly restoreSeconds: number | null;
  readonly restoreRss: number | null;
  readonly error: string | null;
}

export interface TargetsReport {
  /** Per case: the median of its rounds' times, the largest RSS, and every round's times. */
  readonly rows: TargetRow[];
  readonly bytes: number;
  readonly rounds: number;
  /** Each round's seconds per case name (backup, restore). */
  readonly samples: Record<string, { backup: number[]; restore: number[] }>;
  readonly skipped: string | null;
}

interface Case {
  readonly name: string;
  readonly tool: Tool;
  /** Command lines, given a fresh work folder. */
  readonly init: (round: number) => string[];
  readonly backup: (round: number) => string[];
  readonly restore: (round: number, target: string) => string[];
}

/** Rounds of every case (SAFEPOINT_BENCH_TARGET_ROUNDS, default 3): this 2-core VM's times vary by 15-30 % between runs. */
function roundCount(): number {
  const n = Number(process.env['SAFEPOINT_BENCH_TARGET_ROUNDS'] ?? 3);
  return Number.isInteger(n) && n >= 1 ? n : 3;
}

const median = (v: number[]): number | null => (v.length === 0 ? null : [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!);

/**
 * Runs rounds of every case: init (a fresh repository), backup, restore + sync, verify. The order of the cases
 * turns by one each round, so none always runs first or right after another; each time quoted is the median.
 */
export async function benchTargets(source: string, bytes: number, tools: { safepoint?: Tool; restic?: Tool }, work: string, log: (m: string) => void): Promise<TargetsReport> {
  const rounds = roundCount();
  const none = (skipped: string): TargetsReport => ({ rows: [], bytes, rounds, samples: {}, skipped });
  if (process.env['SAFEPOINT_BENCH_S3'] === '0') return none('storage targets skipped: SAFEPOINT_BENCH_S3=0');
  const sp = tools.safepoint;
  if (!sp) return none('storage targets skipped: safepoint not built');
  process.env['CEPH_RGW_STORE'] ??= 'bluestore';
  // three copies of the dataset per round in S3 (safepoint, the mirror, restic); the file is sparse
  process.env['CEPH_RGW_STORE_GB'] ??= String(Math.max(24, Math.ceil((3 * rounds * bytes) / 2 ** 30) + 8));
  let rgw: Rgw | null;
  try {
    rgw = await startRgw();
  } catch (err) {
    return none(`storage targets skipped: Ceph RGW did not start: ${(err as Error).message.split('\n')[0]}`);
  }
  if (!rgw) return none('storage targets skipped: Ceph RGW not installed (apt-get install ceph-mon ceph-osd radosgw ceph-common)');
  const s3env = { AWS_ACCESS_KEY_ID: rgw.accessKeyId, AWS_SECRET_ACCESS_KEY: rgw.secretAccessKey, AWS_REGION: 'us-east-1' };
  const root = join(work, 'targets');
  mkdirSync(root, { recursive: true });
  const initArgv = sp.init('x');
  const cli = initArgv.slice(0, initArgv.indexOf('init')); // the command before its arguments: [bin/safepoint]
  /** A case whose targets (a local folder or a bucket per round) are given by `targets(round)`. */
  const spCase = (name: string, targets: (round: number) => string[]): Case => {
    const config = (round: number): string => {
      const file = join(root, `${name} ${round}.yaml`);
      const list = targets(round).map((t) => JSON.stringify(t)).join(', ');
      writeFileSync(file, `version: 1\nproject: bench\nrepositories:\n  r:\n    targets: [ ${list} ]\n`);
      return file;
    };
    return {
      name,
      tool: { ...sp, env: { ...sp.env, ...s3env } },
      init: (round) => [...cli, 'init', '--config', config(round)],
      backup: (round) => [...cli, 'backup', '--config', config(round), '--json', source],
      restore: (round, target) => [...cli, 'restore', 'latest', '--config', config(round), '--target', target],
    };
  };
  const cases: Case[] = [
    spCase('safepoint local', (r) => [join(root, `local-repo-${r}`)]),
    spCase('safepoint S3', (r) => [`s3:${rgw.endpoint}/bench-s3-${r}`]),
    spCase('safepoint mirror local + S3', (r) => [join(root, `mirror-local-${r}`), `s3:${rgw.endpoint}/bench-mirror-${r}`]),
  ];
  if (tools.restic) {
    const bin = tools.restic.init('x')[0]!;
    const repo = (round: number): string => `s3:${rgw.endpoint}/bench-restic-${round}`;
    cases.push({
      name: 'restic S3',
      tool: { ...tools.restic, env: { ...tools.restic.env, ...s3env } },
      init: (r) => [bin, '-r', repo(r), 'init'],
      backup: (r) => [bin, '-r', repo(r), 'backup', '--json', source],
      restore: (r, target) => [bin, '-r', repo(r), 'restore', 'latest', '--target', target],
    });
  }
  const results: TargetRow[][] = cases.map(() => []);
  try {
    // a fresh RGW creates its data pools on the first bucket and object (seconds): not part of any measurement
    await runMeasured([...cli, 'init', '--repo', `s3:${rgw.endpoint}/warmup`], { ...sp.env, ...s3env });
    for (let round = 0; round < rounds; round++) {
      log(`storage targets, round ${round + 1} of ${rounds}`);
      for (let k = 0; k < cases.length; k++) {
        const i = (k + round) % cases.length;
        results[i]!.push(await runCase(cases[i]!, round, source, root, log, bytes));
      }
    }
  } finally {
    await rgw.stop();
    rmSync(root, { recursive: true, force: true });
  }
  const samples: TargetsReport['samples'] = {};
  const rows = cases.map((c, i): TargetRow => {
    const runs = results[i]!;
    const times = (key: 'backupSeconds' | 'restoreSeconds'): number[] => runs.flatMap((r) => (r[key] === null ? [] : [r[key]]));
    const most = (key: 'backupRss' | 'restoreRss'): number | null => runs.reduce<number | null>((m, r) => (r[key] === null ? m : Math.max(m ?? 0, r[key])), null);
    samples[c.name] = { backup: times('backupSeconds'), restore: times('restoreSeconds') };
    const error = runs.find((r) => r.error !== null)?.error ?? null;
    return { name: c.name, backupSeconds: median(times('backupSeconds')), backupRss: most('backupRss'), restoreSeconds: median(times('restoreSeconds')), restoreRss: most('restoreRss'), error };
  });
  return { rows, bytes, rounds, samples, skipped: null };
}

async function runCase(c: Case, round: number, source: string, root: string, log: (m: string) => void, bytes: number): Promise<TargetRow> {
  const row = { name: c.name, backupSeconds: null, backupRss: null, restoreSeconds: null, restoreRss: null, error: null } as { -readonly [K in keyof TargetRow]: TargetRow[K] };
  const step = async (what: string, argv: string[]): Promise<Awaited<ReturnType<typeof runMeasured>> | null> => {
    syncDisks();
    const res = await runMeasured(argv, c.tool.env);
    if (res.code !== 0) {
      row.error = `${what} exited with ${res.code}: ${(res.stderrTail || res.stdoutTail).trim().split('\n').slice(-3).join(' / ')}`;
      log(`*** ${c.name}: ${row.error}`);
      return null;
    }
    return res;
  };
  if (!(await step('init', c.init(round)))) return row;
  const b = await step('backup', c.backup(round));
  if (!b) return row;
  row.backupSeconds = b.seconds;
  row.backupRss = b.rssMiB;
  const target = join(root, 'restore');
  rmSync(target, { recursive: true, force: true });
  mkdirSync(target, { recursive: true });
  const r = await step('restore', c.restore(round, target));
  if (r) {
    row.restoreSeconds = r.seconds + syncDisks();
    row.restoreRss = r.rssMiB;
    const restored = [join(target, basename(source)), join(target, source)].find((p) => existsSync(p));
    try {
      if (!restored) throw new Error('nothing restored');
      await verifyTree(source, restored);
    } catch (err) {
      row.error = `restore verification failed: ${(err as Error).message}`;
    }
  }
  rmSync(target, { recursive: true, force: true });
  log(`${c.name.padEnd(28)} backup ${fmtS(row.backupSeconds)} (${mbps(bytes, row.backupSeconds)})  restore ${fmtS(row.restoreSeconds)} (${mbps(bytes, row.restoreSeconds)})`);
  return row;
}

const fmtS = (s: number | null): string => (s === null ? '—' : `${s.toFixed(2)} s`);
const mbps = (bytes: number, s: number | null): string => (s === null ? '—' : `${(bytes / 1e6 / s).toFixed(1)} MB/s`);

/** The markdown section: throughput per target and the issue's ratios (S3 ≥ 0.70 × local, mirror ≥ 0.80 × S3). */
export function renderTargets(t: TargetsReport): string {
  if (t.skipped) return `\n## Storage targets\n\n- ${t.skipped}\n`;
  const by = (n: string): TargetRow | undefined => t.rows.find((r) => r.name === n);
  const local = by('safepoint local');
  const s3 = by('safepoint S3');
  const mirror = by('safepoint mirror local + S3');
  const restic = by('restic S3');
  const thr = (a: TargetRow | undefined, b: TargetRow | undefined, key: 'backupSeconds' | 'restoreSeconds', target: number): string => {
    const x = a?.[key];
    const y = b?.[key];
    if (x == null || y == null) return 'n/a';
    const r = y / x; // throughput ratio a/b = time b / time a
    return `${r.toFixed(2)} ${r >= target ? '✓' : '✗'} (≥ ${target.toFixed(2)})`;
  };
  const lines = [
    '',
    '## Storage targets (safepoint; restic to the same S3 as the anchor)',
    '',
    `Times are the median of ${t.rounds} round${t.rounds === 1 ? '' : 's'} (each in a fresh repository, the order of the targets turning each round); RSS is the largest.`,
    '',
    '| target | backup s | MB/s | RSS MiB | restore s | MB/s | RSS MiB | backup rounds s | restore rounds s |',
    '|---|---:|---:|---:|---:|---:|---:|---|---|',
    ...t.rows.map((r) => {
      const all = (v: number[] | undefined): string => (v ?? []).map((x) => x.toFixed(1)).join(', ');
      const s = t.samples[r.name];
      return `| ${r.name}${r.error ? ` (FAILED: ${r.error})` : ''} | ${fmtS(r.backupSeconds).replace(' s', '')} | ${mbps(t.bytes, r.backupSeconds).replace(' MB/s', '')} | ${r.backupRss?.toFixed(0) ?? '?'} | ${fmtS(r.restoreSeconds).replace(' s', '')} | ${mbps(t.bytes, r.restoreSeconds).replace(' MB/s', '')} | ${r.restoreRss?.toFixed(0) ?? '?'} | ${all(s?.backup)} | ${all(s?.restore)} |`;
    }),
    '',
    '| throughput ratio | backup | restore |',
    '|---|---:|---:|',
    `| S3 / local path (target ≥ 0.70) | ${thr(s3, local, 'backupSeconds', 0.7)} | ${thr(s3, local, 'restoreSeconds', 0.7)} |`,
    `| mirror local + S3 / S3 alone (target ≥ 0.80) | ${thr(mirror, s3, 'backupSeconds', 0.8)} | ${thr(mirror, s3, 'restoreSeconds', 0.8)} |`,
    `| safepoint S3 / restic S3 (≥ 1.00: faster) | ${thr(s3, restic, 'backupSeconds', 1)} | ${thr(s3, restic, 'restoreSeconds', 1)} |`,
    '',
    '- S3 is a single-node Ceph RGW 16 (bluestore on a sparse file on the same disk) on 127.0.0.1, sharing the 2 cores with the client.',
    '- The mirror restores from its first target (the local path), falling back to S3 only on a read error or damaged data.',
  ];
  return lines.join('\n') + '\n';
}
