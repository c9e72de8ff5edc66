// Database benchmark (issue 4): a throwaway PostgreSQL cluster loaded by pgbench, archiving its WAL to safepoint and
// to pgBackRest in the same run: full physical backup, `pgbench -T 30`, incremental backup, point-in-time restore to
// a time in the middle of the load (restore + recovery until the server is open). Both run as the cluster's OS user.
import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startCluster, type PgCluster } from '../test/services/pg-cluster.js';
import { freePort } from '../src/util/net.js';
import { totals, walk } from './tree.js';
import { which } from './measure.js';

const run = promisify(execFile);

export interface DbRow {
  readonly step: string;
  readonly safepoint: number | null;
  readonly pgbackrest: number | null;
  readonly unit: 's' | 'MB';
}

export interface DbReport {
  readonly rows: DbRow[];
  readonly notes: string[];
  readonly skipped: string | null;
}

interface Ctx {
  readonly c: PgCluster;
  readonly root: string;
  readonly env: NodeJS.ProcessEnv;
}

/** Runs a command as the cluster's OS user; resolves with stdout and the wall seconds. */
async function as(x: Ctx, cmd: string, args: readonly string[], o: { timeoutMs?: number } = {}): Promise<{ stdout: string; seconds: number }> {
  const [file, argv] = x.c.osUser ? ['runuser', ['-u', x.c.osUser.name, '--', cmd, ...args]] : [cmd, [...args]];
  const t0 = process.hrtime.bigint();
  try {
    const { stdout } = await run(file, argv, { env: x.env, cwd: x.root, maxBuffer: 256 << 20, timeout: o.timeoutMs ?? 30 * 60_000 });
    return { stdout, seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${(e.stderr || e.stdout || e.message).trim().split('\n').slice(-5).join(' | ')}`);
  }
}

function bytesOf(dir: string): number {
  return existsSync(dir) ? totals(walk(dir)).bytes : 0;
}

/** Waits until the server has archived everything written so far (both archivers share archive_command). */
async function waitArchived(x: Ctx): Promise<void> {
  const seg = (await x.c.sql('postgres', 'SELECT pg_walfile_name(pg_switch_wal())')).trim();
  const deadline = Date.now() + 10 * 60_000;
  while (Date.now() < deadline) {
    const last = (await x.c.sql('postgres', "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")).trim();
    if (last >= seg) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`WAL ${seg} was not archived within 10 minutes`);
}

/** Starts a restored data directory, waits until recovery is over (the server is open), stops it cleanly; wall seconds. */
async function recover(x: Ctx, dir: string): Promise<number> {
  const port = await freePort();
  const t0 = Date.now();
  await as(x, join(x.c.binDir, 'pg_ctl'), ['-D', dir, '-l', `${dir}.log`, '-o', `-p ${port} -k ${x.c.socketDir} -c archive_mode=off`, '-w', '-t', '1800', 'start']);
  for (;;) {
    const { stdout } = await as(x, join(x.c.binDir, 'psql'), ['-XAtw', '-h', x.c.socketDir, '-p', String(port), '-U', x.c.user, '-d', 'postgres', '-c', 'SELECT pg_is_in_recovery()']).catch(() => ({ stdout: 't', seconds: 0 }));
    if (stdout.trim() === 'f') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  // a clean stop (shutdown checkpoint) as safepoint's verify ends with: both leave a copy ready to start at once
  await as(x, join(x.c.binDir, 'pg_ctl'), ['-D', dir, '-m', 'fast', '-w', 'stop']);
  return (Date.now() - t0) / 1000;
}

export async function benchDatabases(projectRoot: string, work: string, log: (m: string) => void): Promise<DbReport> {
  if (process.env['SAFEPOINT_BENCH_DB'] === '0') return { rows: [], notes: [], skipped: 'databases skipped: SAFEPOINT_BENCH_DB=0' };
  const pgbench = ['/usr/lib/postgresql/15/bin/pgbench', which('pgbench')].find((p): p is string => p !== null && existsSync(p));
  if (!pgbench) return { rows: [], notes: [], skipped: 'databases skipped: pgbench not installed' };
  const pgbackrest = which('pgbackrest');
  const scale = Number(process.env['SAFEPOINT_BENCH_PG_SCALE'] ?? '50');
  const seconds = Number(process.env['SAFEPOINT_BENCH_PG_SECONDS'] ?? '30');
  const restores = Math.max(1, Number(process.env['SAFEPOINT_BENCH_PG_RESTORES'] ?? '3'));
  const root = join(work, 'databases');
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  // the installed command (bin/safepoint), on this benchmark's Node
  const cli = join(projectRoot, 'bin/safepoint');
  const config = join(root, 'safepoint.yaml');
  const brConf = join(root, 'pgbackrest.conf');
  const push = [`NODE=${process.execPath} ${cli} --config ${config} pg archive-push %p --source bench`, ...(pgbackrest ? [`${pgbackrest} --config=${brConf} --stanza=bench archive-push %p`] : [])].join(' && ');
  const c = await startCluster({ conf: `archive_mode = on\narchive_command = '${push}'\nmax_wal_size = 2GB\ncheckpoint_timeout = 15min` });
  if (!c) return { rows: [], notes: [], skipped: 'databases skipped: PostgreSQL server binaries not installed' };
  const env = { ...process.env, NODE: process.execPath, SAFEPOINT_LOG_FILE: 'none', SAFEPOINT_PASSWORD: undefined, SAFEPOINT_CONFIG: undefined, PGHOST: c.socketDir, PGPORT: String(c.port), PGUSER: c.user };
  const x: Ctx = { c, root, env };
  const notes: string[] = [];
  const rows: DbRow[] = [];
  try {
    const pw = join(root, 'password');
    writeFileSync(pw, 'bench-password\n', { mode: 0o600 });
    writeFileSync(config, `version: 1\nproject: bench\nrepositories:\n  db: { targets: [ ${join(root, 'sp-repo')} ], password_file: ${pw} }\nsources:\n  - name: bench\n    type: postgres\n    repository: db\n    mode: physical\n    wal_archiving: true\n    bin_dir: ${c.binDir}\n    data_directory: ${c.dataDir}\n    connection: { host: ${c.socketDir}, port: ${c.port}, user: ${c.user}, database: postgres }\n`);
    writeFileSync(brConf, `[global]\nrepo1-path=${join(root, 'br-repo')}\nrepo1-cipher-type=aes-256-cbc\nrepo1-cipher-pass=bench-password\ncompress-type=zst\nprocess-max=2\nstart-fast=y\nlog-level-console=warn\nlog-level-file=off\nlock-path=${join(root, 'br-lock')}\nspool-path=${join(root, 'br-spool')}\n\n[bench]\npg1-path=${c.dataDir}\npg1-port=${c.port}\npg1-socket-path=${c.socketDir}\npg1-user=${c.user}\n`);
    if (c.osUser) for (const f of [root, pw, config, brConf]) chownSync(f, c.osUser.uid, c.osUser.gid);
    const sp = (args: string[]): Promise<{ stdout: string; seconds: number }> => as(x, cli, ['--config', config, ...args]);
    const br = (args: string[]): Promise<{ stdout: string; seconds: number }> => as(x, pgbackrest!, [`--config=${brConf}`, '--stanza=bench', ...args]);
    await sp(['init', '--repo', 'db']);
    if (pgbackrest) await br(['stanza-create']);

    log(`databases: pgbench -i -s ${scale}`);
    await as(x, pgbench, ['-i', '-q', '-s', String(scale), '-h', c.socketDir, '-p', String(c.port), '-U', c.user, 'postgres']);
    await c.sql('postgres', 'CHECKPOINT');
    const dbBytes = Number(await c.sql('postgres', 'SELECT pg_database_size(current_database())'));
    await waitArchived(x);

    log('databases: full backups');
    const spFull = await sp(['backup', '--source', 'bench', '--type', 'full']);
    const brFull = pgbackrest ? await br(['backup', '--type=full']) : null;
    rows.push({ step: 'full backup', safepoint: spFull.seconds, pgbackrest: brFull?.seconds ?? null, unit: 's' });

    log(`databases: pgbench -T ${seconds}`);
    const load = as(x, pgbench, ['-T', String(seconds), '-c', '4', '-j', '2', '-h', c.socketDir, '-p', String(c.port), '-U', c.user, 'postgres']);
    await new Promise((r) => setTimeout(r, (seconds * 1000) / 2));
    const middle = new Date();
    const tps = /tps = ([\d.]+)/.exec((await load).stdout)?.[1] ?? '?';
    await waitArchived(x);

    log('databases: incremental backups');
    const spIncr = await sp(['backup', '--source', 'bench', '--type', 'incr']);
    const brIncr = pgbackrest ? await br(['backup', '--type=incr']) : null;
    rows.push({ step: 'incremental backup', safepoint: spIncr.seconds, pgbackrest: brIncr?.seconds ?? null, unit: 's' });
    await waitArchived(x);

    log(`databases: point-in-time restore to ${middle.toISOString()} (${restores} times each)`);
    const target = middle.toISOString();
    const spDir = join(root, 'sp-restore');
    const brDir = join(root, 'br-restore');
    const spTimes: number[] = [];
    const brTimes: number[] = [];
    const brSplit: string[] = [];
    // safepoint: restore, then recovery and checks on a throwaway server (amcheck included) — one command
    const spRun = async (last: boolean): Promise<void> => {
      rmSync(spDir, { recursive: true, force: true });
      const spRestore = await sp(['restore', '--source', 'bench', '--into', spDir, '--target-time', target, '--json']);
      spTimes.push(spRestore.seconds);
      if (!last) return;
      const steps = spRestore.stdout.split('\n').filter((l) => l.includes('"message_type":"step"')).map((l) => JSON.parse(l) as { name: string; seconds: number; status: string });
      notes.push(`safepoint's restore steps (last run): ${steps.filter((st) => st.status === 'success').map((st) => `${st.name} ${st.seconds.toFixed(1)} s`).join(', ')}.`);
      const restoreStep = steps.find((st) => st.name.startsWith('restore snapshot')) as { detail?: string } | undefined;
      if (restoreStep?.detail) notes.push(`safepoint's restore: ${restoreStep.detail}`);
      const checks = spRestore.stdout.split('\n').filter((l) => l.includes('"message_type":"check"')).map((l) => JSON.parse(l) as { name: string; detail: string });
      notes.push(`safepoint's verify: ${checks.map((ch) => `${ch.name}: ${ch.detail}`).join('; ')}`);
    };
    const brRun = async (): Promise<void> => {
      rmSync(brDir, { recursive: true, force: true });
      const pgTime = target.replace('T', ' ').replace('Z', '+00');
      const r = await br(['restore', `--pg1-path=${brDir}`, '--type=time', `--target=${pgTime}`, '--target-action=promote']);
      const rec = await recover(x, brDir);
      brTimes.push(r.seconds + rec);
      brSplit.push(`${r.seconds.toFixed(1)} + ${rec.toFixed(1)}`);
    };
    // alternating which tool goes first, so neither always finds a warm page cache
    for (let i = 0; i < restores; i++) {
      const last = i === restores - 1;
      if (pgbackrest && i % 2 === 1) await brRun();
      await spRun(last);
      if (pgbackrest && i % 2 === 0) await brRun();
    }
    const median = (v: number[]): number | null => (v.length === 0 ? null : [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!);
    notes.push(`PITR restore, ${restores} runs each (median quoted): safepoint ${spTimes.map((t) => t.toFixed(1)).join(', ')} s${pgbackrest ? `; pgBackRest ${brTimes.map((t) => t.toFixed(1)).join(', ')} s (restore + start, recovery and stop: ${brSplit.join(', ')} s)` : ''}.`);
    const spSeconds = median(spTimes)!;
    const brSeconds = median(brTimes);
    rows.push({ step: 'PITR restore to the middle (restore + recovery)', safepoint: spSeconds, pgbackrest: brSeconds, unit: 's' });
    rows.push({ step: 'stored size (repository)', safepoint: bytesOf(join(root, 'sp-repo')) / 1e6, pgbackrest: pgbackrest ? bytesOf(join(root, 'br-repo')) / 1e6 : null, unit: 'MB' });
    notes.push(`pgbench scale ${scale}: database ${(dbBytes / 1e6).toFixed(0)} MB; pgbench -T ${seconds} -c 4: ${tps} tps while both tools archived WAL (one archive_command calls both).`);
    notes.push(pgbackrest ? `pgBackRest ${(await br(['version'])).stdout.trim()}: zstd, AES-256-CBC repository encryption, process-max=2; its restore time includes starting the server, waiting until recovery is over and a clean stop, as safepoint's restore does (which also runs amcheck on the recovered copy).` : 'pgBackRest not installed (apt-get install pgbackrest): safepoint alone.');
    return { rows, notes, skipped: null };
  } finally {
    await c.stop().catch(() => undefined);
    if (process.env['SAFEPOINT_BENCH_KEEP'] === '1') log(`databases: kept ${root} (SAFEPOINT_BENCH_KEEP=1)`);
    else rmSync(root, { recursive: true, force: true });
  }
}

export function renderDatabases(r: DbReport): string {
  if (r.skipped) return `\n## Databases\n\n${r.skipped}\n`;
  const f = (v: number | null, unit: string): string => (v === null ? '—' : unit === 's' ? `${v.toFixed(1)} s` : `${v.toFixed(0)} MB`);
  const lines = ['', '## Databases (PostgreSQL, pgbench)', '', '| step | safepoint | pgBackRest | ratio |', '|---|---|---|---|'];
  for (const row of r.rows) lines.push(`| ${row.step} | ${f(row.safepoint, row.unit)} | ${f(row.pgbackrest, row.unit)} | ${row.safepoint !== null && row.pgbackrest ? (row.safepoint / row.pgbackrest).toFixed(2) : '—'} |`);
  lines.push('', 'Targets: time ratio ≤ 1.0, stored size ≤ 1.1.', '', ...r.notes.map((n) => `- ${n}`), '');
  return lines.join('\n');
}
