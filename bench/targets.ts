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
  readonly rows: TargetRow[];
  readonly bytes: number;
  readonly skipped: string | null;
}

interface Case {
  readonly name: string;
  readonly tool: Tool;
  /** Command lines, given a fresh work folder. */
  readonly init: string[];
  readonly backup: string[];
  readonly restore: (target: string) => string[];
}

/** Runs every case in turn: init, backup, restore + sync, verify. */
export async function benchTargets(source: string, bytes: number, tools: { safepoint?: Tool; restic?: Tool }, work: string, log: (m: string) => void): Promise<TargetsReport> {
  if (process.env['SAFEPOINT_BENCH_S3'] === '0') return { rows: [], bytes, skipped: 'storage targets skipped: SAFEPOINT_BENCH_S3=0' };
  const sp = tools.safepoint;
  if (!sp) return { rows: [], bytes, skipped: 'storage targets skipped: safepoint not built' };
  process.env['CEPH_RGW_STORE'] ??= 'bluestore';
  process.env['CEPH_RGW_STORE_GB'] ??= '24';
  let rgw: Rgw | null;
  try {
    rgw = await startRgw();
  } catch (err) {
    return { rows: [], bytes, skipped: `storage targets skipped: Ceph RGW did not start: ${(err as Error).message.split('\n')[0]}` };
  }
  if (!rgw) return { rows: [], bytes, skipped: 'storage targets skipped: Ceph RGW not installed (apt-get install ceph-mon ceph-osd radosgw ceph-common)' };
  const s3env = { AWS_ACCESS_KEY_ID: rgw.accessKeyId, AWS_SECRET_ACCESS_KEY: rgw.secretAccessKey, AWS_REGION: 'us-east-1' };
  const root = join(work, 'targets');
  mkdirSync(root, { recursive: true });
  const initArgv = sp.init('x');
  const cli = initArgv.slice(0, initArgv.indexOf('init')); // the command before its arguments: [bin/safepoint]
  const spCase = (name: string, targets: string[]): Case => {
    const config = join(root, `${name}.yaml`);
    const list = targets.map((t) => JSON.stringify(t)).join(', ');
    writeFileSync(config, `version: 1\nproject: bench\nrepositories:\n  r:\n    targets: [ ${list} ]\n`);
    return {
      name,
      tool: { ...sp, env: { ...sp.env, ...s3env } },
      init: [...cli, 'init', '--config', config],
      backup: [...cli, 'backup', '--config', config, '--json', source],
      restore: (target) => [...cli, 'restore', 'latest', '--config', config, '--target', target],
    };
  };
  const cases: Case[] = [
    spCase('safepoint local', [join(root, 'local-repo')]),
    spCase('safepoint S3', [`s3:${rgw.endpoint}/bench-s3`]),
    spCase('safepoint mirror local + S3', [join(root, 'mirror-local'), `s3:${rgw.endpoint}/bench-mirror`]),
  ];
  if (tools.restic) {
    const bin = tools.restic.init('x')[0]!;
    const repo = `s3:${rgw.endpoint}/bench-restic`;
    cases.push({
      name: 'restic S3',
      tool: { ...tools.restic, env: { ...tools.restic.env, ...s3env } },
      init: [bin, '-r', repo, 'init'],
      backup: [bin, '-r', repo, 'backup', '--json', source],
      restore: (target) => [bin, '-r', repo, 'restore', 'latest', '--target', target],
    });
  }
  const rows: TargetRow[] = [];
  try {
    // a fresh RGW creates its data pools on the first bucket and object (seconds): not part of any measurement
    await runMeasured([...cli, 'init', '--repo', `s3:${rgw.endpoint}/warmup`], { ...sp.env, ...s3env });
    for (const c of cases) rows.push(await runCase(c, source, root, log, bytes));
  } finally {
    await rgw.stop();
    rmSync(root, { recursive: true, force: true });
  }
  return { rows, bytes, skipped: null };
}

async function runCase(c: Case, source: string, root: string, log: (m: string) => void, bytes: number): Promise<TargetRow> {
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
  if (!(await step('init', c.init))) return row;
  const b = await step('backup', c.backup);
  if (!b) return row;
  row.backupSeconds = b.seconds;
  row.backupRss = b.rssMiB;
  const target = join(root, 'restore');
  rmSync(target, { recursive: true, force: true });
  mkdirSync(target, { recursive: true });
  const r = await step('restore', c.restore(target));
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
    '| target | backup s | MB/s | RSS MiB | restore s | MB/s | RSS MiB |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...t.rows.map((r) => `| ${r.name}${r.error ? ` (FAILED: ${r.error})` : ''} | ${fmtS(r.backupSeconds).replace(' s', '')} | ${mbps(t.bytes, r.backupSeconds).replace(' MB/s', '')} | ${r.backupRss?.toFixed(0) ?? '?'} | ${fmtS(r.restoreSeconds).replace(' s', '')} | ${mbps(t.bytes, r.restoreSeconds).replace(' MB/s', '')} | ${r.restoreRss?.toFixed(0) ?? '?'} |`),
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
