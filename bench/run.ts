// `npm run bench`: safepoint vs restic on the same data in the same run.
// Env: SAFEPOINT_BENCH_DIR (base folder, default bench/data),
//      SAFEPOINT_BENCH_ONLY=targets (only the storage-target section, written to bench/results/targets.md),
//      SAFEPOINT_BENCH_S3=0 (skip the storage-target section), SAFEPOINT_BENCH_TARGET_ROUNDS (default 3: rounds of each storage target, medians quoted),
//      SAFEPOINT_BENCH_ONLY=databases (only pgbench: safepoint vs pgBackRest, bench/results/databases.md),
//      SAFEPOINT_BENCH_DB=0 (skip it), SAFEPOINT_BENCH_PG_SCALE (default 50), SAFEPOINT_BENCH_PG_SECONDS (default 30), SAFEPOINT_BENCH_PG_RESTORES (default 3: PITR restores per tool, median quoted), SAFEPOINT_BENCH_KEEP=1 (keep the database work folder),
//      SAFEPOINT_BENCH_SCALE (default 1.0, e.g. 0.02 for a quick run),
//      SAFEPOINT_BENCH_TOOLS (comma list, default "safepoint,restic").
import { availableParallelism, cpus, loadavg } from 'node:os';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rssMethod, runMeasured, syncDisks } from './measure.js';
import { renderReport, STEPS } from './report.js';
import type { Report, StepKey, StepResult, ToolResult } from './report.js';
import { Dataset } from './state.js';
import { restic, safepoint } from './tools.js';
import type { Tool } from './tools.js';
import { totals, verifyTree, walk } from './tree.js';
import { benchTargets, renderTargets } from './targets.js';
import { benchDatabases, renderDatabases } from './databases.js';

const projectRoot = fileURLToPath(new URL('../..', import.meta.url));
const scale = Number(process.env['SAFEPOINT_BENCH_SCALE'] ?? '1');
const base = resolve(process.env['SAFEPOINT_BENCH_DIR'] ?? join(projectRoot, 'bench/data'));
const work = join(base, 'work');
const wanted = (process.env['SAFEPOINT_BENCH_TOOLS'] ?? 'safepoint,restic').split(',').map((s) => s.trim());
const log = (msg: string): void => console.log(msg);
const tailLines = (text: string, n = 20): string => text.trimEnd().split('\n').slice(-n).join('\n');

interface Runner {
  tool: Tool;
  result: ToolResult;
  repo: string;
}

/** The last stdout line with message_type "summary", parsed. */
function parseSummary(stdout: string): Record<string, unknown> | null {
  for (const line of stdout.trimEnd().split('\n').reverse()) {
    try {
      const obj = JSON.parse(line) as Record<string, unknown>;
      if (obj['message_type'] === 'summary') return obj;
    } catch {
      // not JSON (progress or log output)
    }
  }
  return null;
}

/** Run one command for a tool; on failure record the error and print the stderr tail. */
async function exec(r: Runner, what: string, argv: string[]): Promise<Awaited<ReturnType<typeof runMeasured>> | null> {
  if (r.result.error) return null;
  syncDisks();
  const res = await runMeasured(argv, r.tool.env);
  if (res.code === 0) return res;
  r.result.error = `${what} exited with code ${res.code}: ${argv.join(' ')}\n${tailLines(res.stderrTail || res.stdoutTail)}`;
  console.error(`\n*** ${r.tool.name} ${r.result.error}\n`);
  return null;
}

function record(r: Runner, key: StepKey, res: { seconds: number; rssMiB: number | null }, bytes: number, summary: StepResult['summary']): void {
  const step = { seconds: res.seconds, rssMiB: res.rssMiB, bytes, summary };
  r.result.steps[key] = step;
  const title = STEPS.find((s) => s.key === key)?.title ?? key;
  const rss = step.rssMiB === null ? '?' : step.rssMiB.toFixed(0);
  log(`${r.tool.name.padEnd(9)} ${title.padEnd(24)} ${step.seconds.toFixed(2).padStart(8)} s ${(bytes / 1e6 / step.seconds).toFixed(1).padStart(8)} MB/s  RSS ${rss} MiB`);
}

async function backup(r: Runner, key: StepKey, source: string, bytes: number): Promise<void> {
  const res = await exec(r, `${key} backup`, r.tool.backup(r.repo, source));
  if (res) record(r, key, res, bytes, parseSummary(res.stdoutTail));
}

async function restoreAndVerify(r: Runner, source: string, bytes: number): Promise<void> {
  const target = join(work, `${r.tool.name}-restore`);
  rmSync(target, { recursive: true, force: true });
  mkdirSync(target, { recursive: true });
  const res = await exec(r, 'restore', r.tool.restore(r.repo, target));
  if (!res) return;
  const syncSeconds = syncDisks();
  record(r, 'restore', { seconds: res.seconds + syncSeconds, rssMiB: res.rssMiB }, bytes, null);
  // safepoint restores into target/<basename>, restic recreates the absolute path under target
  const restored = [join(target, basename(source)), join(target, source)].find((p) => existsSync(p));
  try {
    if (!restored) throw new Error(`nothing restored at ${target}/${basename(source)} or ${target}${source}`);
    r.result.verified = await verifyTree(source, restored);
    log(`${r.tool.name.padEnd(9)} restore verified: ${r.result.verified}`);
  } catch (err) {
    r.result.error = `restore verification failed: ${(err as Error).message}`;
    console.error(`\n*** ${r.tool.name} ${r.result.error}\n`);
  }
  rmSync(target, { recursive: true, force: true });
}

const load = (): string => loadavg().map((l) => l.toFixed(2)).join(' ');

function machine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown cpu';
  return `nproc ${availableParallelism()} (${cpu}), node ${process.version}, ${process.platform}`;
}

async function main(): Promise<number> {
  if (!(scale > 0)) throw new Error(`bad SAFEPOINT_BENCH_SCALE: ${process.env['SAFEPOINT_BENCH_SCALE']}`);
  mkdirSync(base, { recursive: true });
  if (process.env['SAFEPOINT_BENCH_ONLY'] === 'databases') {
    // only the database section (pgbench, safepoint vs pgBackRest): bench/results/databases.md
    mkdirSync(work, { recursive: true });
    const md = `# Database benchmark, ${new Date().toISOString()}\n\nMachine: ${machine()}\n` + renderDatabases(await benchDatabases(projectRoot, work, log));
    log('\n' + md);
    writeFileSync(join(projectRoot, 'bench/results/databases.md'), md);
    return 0;
  }
  const loadBefore = load();
  const dataset = new Dataset(base, scale);
  dataset.ensurePristine(log);
  const source = dataset.root;
  const before = totals(walk(source));
  log(`dataset: ${before.files} files, ${before.dirs} folders, ${(before.bytes / 1e6).toFixed(0)} MB`);

  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const runners: Runner[] = [];
  const skipped: string[] = [];
  for (const detected of [safepoint(projectRoot, work), restic(work)]) {
    if ('skipped' in detected) skipped.push(detected.skipped);
    else if (!wanted.includes(detected.tool.name)) skipped.push(`${detected.tool.name} skipped: not in SAFEPOINT_BENCH_TOOLS`);
    else {
      const { tool } = detected;
      const result: ToolResult = { name: tool.name, version: tool.version, steps: {}, repoBytes: null, verified: null, error: null };
      runners.push({ tool, result, repo: join(work, `${tool.name}-repo`) });
    }
  }
  for (const s of skipped) log(s);
  for (const r of runners) log(`${r.tool.name}: ${r.tool.version}`);

  // SAFEPOINT_BENCH_ONLY=targets: only the storage-target section (faster to iterate on)
  const onlyTargets = process.env['SAFEPOINT_BENCH_ONLY'] === 'targets';
  let mutation = 'none (SAFEPOINT_BENCH_ONLY=targets)';
  if (!onlyTargets) {
    for (const r of runners) await exec(r, 'init', r.tool.init(r.repo));
    for (const r of runners) await backup(r, 'initial', source, before.bytes);
    for (const r of runners) await backup(r, 'unchanged', source, before.bytes);
    mutation = dataset.mutate();
    log(`1% change: ${mutation}`);
  }
  const after = totals(walk(source));
  if (!onlyTargets) {
    for (const r of runners) await backup(r, 'changed', source, after.bytes);
    for (const r of runners) await restoreAndVerify(r, source, after.bytes);
  }
  for (const r of runners) if (existsSync(r.repo)) r.result.repoBytes = totals(walk(r.repo)).bytes;
  for (const r of runners) rmSync(r.repo, { recursive: true, force: true }); // room on disk for the targets' repositories
  const tool = (name: string): Tool | undefined => runners.find((r) => r.tool.name === name && !r.result.error)?.tool;
  const targets = await benchTargets(source, after.bytes, { ...(tool('safepoint') ? { safepoint: tool('safepoint')! } : {}), ...(tool('restic') ? { restic: tool('restic')! } : {}) }, work, log);
  const databases = onlyTargets ? null : await benchDatabases(projectRoot, work, log);

  const report: Report = {
    date: new Date().toISOString(),
    machine: machine(),
    scale,
    dataset: `${before.files} files in ${before.dirs} folders, ${(before.bytes / 1e6).toFixed(0)} MB (${source})`,
    mutation,
    skipped,
    tools: runners.map((r) => r.result),
    notes: [
      'MB = 10^6 bytes; MB/s = dataset bytes / wall seconds of the step (also for the unchanged and changed re-backups).',
      `RSS = peak resident set size of the tool's process (${rssMethod}).`,
      '`sync` runs before every step (not timed); the page cache is not dropped, so the dataset is mostly read from RAM.',
      '"data added" is each tool\'s own summary field (restic 0.14 counts it before compression).',
      'Restore time includes the `sync` after the restore. Each tool gets a fresh repository and cache in every run.',
      `Load average (1/5/15 min) at start: ${loadBefore}; at end: ${load()} (other processes on the machine inflate times).`,
    ],
  };
  const md = renderReport(report) + renderTargets(targets) + (databases ? renderDatabases(databases) : '');
  log('\n' + md);
  const resultsDir = join(projectRoot, 'bench/results');
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, onlyTargets ? 'targets.md' : 'latest.md');
  writeFileSync(file, md);
  log(`written to ${file}`);
  return runners.some((r) => r.result.error) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(2);
  },
);
