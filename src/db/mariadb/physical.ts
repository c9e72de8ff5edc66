/**
 * MariaDB physical backups with mariadb-backup: `full` copies the whole server, `incr` only the InnoDB pages changed
 * since the last backup of any type, `diff` since the last full (`--incremental-lsn` of that backup's to_lsn, so
 * no earlier backup has to be on disk). Each backup is an xbstream streamed straight into the repository. A restore
 * extracts the chain (full, then the incrementals up to the one asked for), prepares it with mariadb-backup
 * (applying each incremental in order: automatic, nothing to replay by hand), moves it into the data directory
 * (what was there is moved aside, never deleted), and verifies it on a throwaway server (CHECK TABLE, SQL checks).
 */
import { recoveryBuffersMbHere } from '../recovery-memory.js';
import { chown, mkdir, mkdtemp, readdir, readFile, readlink, realpath, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { MariadbSource } from '../../config/schema-sources.js';
import type { Repository } from '../../repo/repository.js';
import { findSnapshot, loadSnapshots, type BackupType, type Snapshot, type SnapshotWithId } from '../../repo/snapshot.js';
import { backupStreams, readStream } from '../../snapshot/stream-backup.js';
import { UsageError, UserError, errorMessage } from '../../util/errors.js';
import { userIds } from '../../util/user.js';
import { dirEntries, keptAsideNote, livePidFile, moveAside, syncFileSystem, targetDataDir } from '../data-dir.js';
import { dbSnapshotOptions, type DatabaseDriver, type DbCheck, type DbRestoreResult, type DbRestoreTarget } from '../driver.js';
import { runCmd, launch } from '../postgres/pg-process.js';
import { checkTables } from './logical.js';
import { startThrowaway } from './throwaway-server.js';
import { replayBinlogs } from './binlog.js';
import { findTool, query, toolEnv } from './mariadb-tools.js';

export const XBSTREAM = 'backup.xbstream';

/** What a physical MariaDB snapshot records in `meta`. */
export interface MariadbPhysicalMeta {
  readonly kind: 'mariadb';
  readonly mode: 'physical';
  readonly stream: string;
  /** full, or incremental (diff and incr are both incremental to mariadb-backup; they differ by their base). */
  readonly backup_type: 'full' | 'incremental';
  /** The snapshot this one applies on top of (null for a full). */
  readonly base: string | null;
  readonly from_lsn: string;
  readonly to_lsn: string;
  readonly server_version: string;
  /** The binlog position the backup is consistent with (when the server writes binlogs), else null. */
  readonly binlog: { file: string; position: number } | null;
  readonly mariadb_backup_version: string;
  readonly warnings: string[];
}

function location(source: MariadbSource): string {
  const c = source.connection;
  return `mariadb://${c.host ?? 'localhost'}:${c.port}`;
}

export function physicalMeta(s: Snapshot): MariadbPhysicalMeta {
  const m = s.meta;
  if (!m || m.kind !== 'mariadb' || m.mode !== 'physical' || typeof m.stream !== 'string') {
    throw new UserError(`snapshot of ${s.time} is not a MariaDB physical backup (meta kind ${JSON.stringify(m?.kind)}, mode ${JSON.stringify(m?.mode)})`);
  }
  return m as unknown as MariadbPhysicalMeta;
}

/** mariadb-backup (or its older name mariabackup), from bin_dir or PATH. */
async function backupTool(source: MariadbSource): Promise<string> {
  return findTool('backup', source.bin_dir);
}

/** Connection options mariadb-backup understands (it takes no --protocol / character set). */
function backupConnection(source: MariadbSource): string[] {
  const c = source.connection;
  const args: string[] = [];
  if (c.host !== undefined) args.push(`--host=${c.host}`, `--port=${c.port}`);
  if (c.user !== undefined) args.push(`--user=${c.user}`);
  return args;
}

/** `key = value` lines of xtrabackup_checkpoints / xtrabackup_info. */
export function parseKeyValues(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) m.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  return m;
}

/** The base of a backup of `type`: none for full; the last full for diff; the last backup of any type for incr. */
export function baseFor(type: BackupType, previous: readonly SnapshotWithId[]): SnapshotWithId | null {
  const usable = previous.filter((s) => s.complete && !s.tags.includes('safety'));
  if (type === 'full') return null;
  if (type === 'differential') return usable.filter((s) => s.type === 'full').at(-1) ?? null;
  return usable.at(-1) ?? null;
}

async function backup(repo: Repository, source: MariadbSource, o: { tags?: readonly string[]; type?: BackupType; onProgress?: (n: number) => void; signal?: AbortSignal }): Promise<{ snapshotId: string; snapshot: Snapshot }> {
  await repo.loadIndex();
  const tool = await backupTool(source);
  const env = await toolEnv(source);
  const [[version = ''] = []] = await query(source, 'SELECT VERSION()');
  const previous = (await loadSnapshots(repo, { source: source.name })).filter((s) => s.meta?.kind === 'mariadb' && s.meta.mode === 'physical');
  const type = o.type ?? 'full';
  const warnings: string[] = [];
  const base = baseFor(type, previous);
  const effective: BackupType = type !== 'full' && base === null ? 'full' : type;
  if (effective !== type) warnings.push(`no full backup to build on: this ${type} backup was taken as full`);
  const lsnDir = await mkdtemp(join(tmpdir(), 'safepoint-mariabackup-'));
  try {
    const args = ['--backup', '--stream=xbstream', `--target-dir=${lsnDir}`, `--extra-lsndir=${lsnDir}`, ...backupConnection(source)];
    if (source.data_directory !== undefined) args.push(`--datadir=${source.data_directory}`);
    if (base) args.push(`--incremental-lsn=${physicalMeta(base).to_lsn}`);
    const toolVersion = (await runCmd(tool, ['--version'], { what: 'mariadb-backup --version', env })).stderr.trim() || 'unknown';
    const meta: Record<string, unknown> = { kind: 'mariadb', mode: 'physical', stream: XBSTREAM, backup_type: base ? 'incremental' : 'full', base: base?.id ?? null, server_version: version, mariadb_backup_version: toolVersion, warnings };
    const r = launch(tool, args, { what: `mariadb-backup of ${location(source)}`, env, notFound: `${tool} cannot run: install mariadb-backup`, cwd: lsnDir, ...(o.signal ? { signal: o.signal } : {}) });
    async function* data(): AsyncGenerator<Buffer> {
      let finished = false;
      try {
        for await (const b of r.stdout) yield b;
        await r.done;
        finished = true;
        // mariadb-backup wrote its positions beside the stream: record them before the snapshot is saved
        const cp = parseKeyValues(await readFile(join(lsnDir, 'xtrabackup_checkpoints'), 'utf8'));
        meta.from_lsn = cp.get('from_lsn') ?? '0';
        meta.to_lsn = cp.get('to_lsn') ?? cp.get('last_lsn') ?? '0';
        const info = parseKeyValues(await readFile(join(lsnDir, 'xtrabackup_info'), 'utf8').catch(() => ''));
        const pos = /filename '([^']+)', position '(\d+)'/.exec(info.get('binlog_pos') ?? '');
        meta.binlog = pos ? { file: pos[1]!, position: Number(pos[2]) } : null;
      } finally {
        if (!finished) r.kill();
      }
    }
    const opts = dbSnapshotOptions(source, o, meta, location(source));
    return await backupStreams(repo, [{ name: XBSTREAM, data: data() }], { ...opts, type: effective, parent: base?.id ?? null });
  } finally {
    await rm(lsnDir, { recursive: true, force: true });
  }
}

function targetDir(source: MariadbSource, target: DbRestoreTarget): string {
  return targetDataDir(source, target, '/var/lib/mysql');
}

const entries = dirEntries;

/**
 * A live server on `dir`: a process whose working directory it is (mariadbd changes into its data directory), or a
 * *.pid file in it naming a running process. The pid file usually lives elsewhere (/run/mysqld), hence /proc.
 */
async function runningServer(dir: string): Promise<number | null> {
  const real = await realpath(dir).catch(() => dir);
  for (const pid of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if ((await readlink(`/proc/${pid}/cwd`)) === real) return Number(pid);
    } catch {
      // gone, or not ours to look at
    }
  }
  for (const name of (await entries(dir)) ?? []) {
    const pid = name.endsWith('.pid') ? await livePidFile(join(dir, name)) : null;
    if (pid !== null) return pid;
  }
  return null;
}

/** The chain to apply for `snapshot`: the full backup first, then each incremental up to `snapshot`. */
async function chainOf(repo: Repository, snapshot: SnapshotWithId | Snapshot): Promise<Snapshot[]> {
  const chain: Snapshot[] = [snapshot];
  let meta = physicalMeta(snapshot);
  while (meta.base !== null) {
    if (chain.length > 1000) throw new UserError('the incremental chain is longer than 1000 backups: take a full backup');
    let base: Snapshot;
    try {
      base = await findSnapshot(repo, meta.base);
    } catch (err) {
      throw new UserError(`incremental backup of ${chain[0]!.time} needs snapshot ${meta.base.slice(0, 8)}, which is gone: restore a later full backup (${errorMessage(err)})`, { cause: err });
    }
    chain.unshift(base);
    meta = physicalMeta(base);
  }
  return chain;
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

async function chownTree(path: string, uid: number, gid: number): Promise<void> {
  await chown(path, uid, gid);
  const st = await stat(path);
  if (!st.isDirectory()) return;
  for (const e of await readdir(path)) await chownTree(join(path, e), uid, gid);
}

async function restore(repo: Repository, snapshot: Snapshot, source: MariadbSource, target: DbRestoreTarget, o: { signal?: AbortSignal }): Promise<DbRestoreResult> {
  physicalMeta(snapshot);
  const dir = targetDir(source, target);
  const chain = await chainOf(repo, snapshot);
  const tool = await backupTool(source);
  const mbstream = await findTool('mbstream', source.bin_dir);
  const notes: string[] = [];
  const before = await entries(dir);
  let owner = isRoot() ? await userIds('mysql') : null;
  if (before !== null && before.length > 0) {
    const pid = await runningServer(dir);
    if (pid !== null) throw new UserError(`a MariaDB server (pid ${pid}) runs on ${dir}: stop it before restoring over its data directory`);
    if (isRoot()) {
      const st = await stat(dir);
      owner = { uid: st.uid, gid: st.gid };
    }
  }
  // the work happens beside the target: same file system, so the prepared files are moved, not copied
  await mkdir(dirname(dir), { recursive: true });
  const work = await mkdtemp(join(dirname(dir), `.${basename(dir)}.safepoint-`));
  let aside: string | null = null;
  let bytes = 0;
  const so = o.signal ? { signal: o.signal } : {};
  try {
    const parts: string[] = [];
    for (const [i, s] of chain.entries()) {
      const part = join(work, String(i));
      await mkdir(part);
      const counted = (async function* () {
        for await (const b of readStream(repo, s, physicalMeta(s).stream)) {
          bytes += b.length;
          yield b;
        }
      })();
      await runCmd(mbstream, ['-x', '-C', part], { what: `mbstream extracting the backup of ${s.time}`, stdin: counted, ...so });
      parts.push(part);
    }
    const full = parts[0]!;
    // the redo log is applied through a buffer pool: mariadb-backup's 100 MB default makes a large one crawl
    const memory = `--use-memory=${recoveryBuffersMbHere()}M`;
    await runCmd(tool, ['--prepare', memory, `--target-dir=${full}`], { what: 'mariadb-backup --prepare', ...so });
    for (const inc of parts.slice(1)) await runCmd(tool, ['--prepare', memory, `--target-dir=${full}`, `--incremental-dir=${inc}`], { what: 'mariadb-backup --prepare --incremental-dir', ...so });
    if (before !== null && before.length > 0) {
      aside = await moveAside(dir);
      notes.push(keptAsideNote(dir, aside));
    }
    await runCmd(tool, ['--move-back', `--target-dir=${full}`, `--datadir=${dir}`], { what: `mariadb-backup --move-back into ${dir}`, ...so });
    if (owner) await chownTree(dir, owner.uid, owner.gid);
    await syncFileSystem(dir);
    if (target.recovery) {
      if (target.recovery.kind !== 'time') throw new UsageError(`MariaDB restores to a point in time with --target-time; ${target.recovery.kind} targets are PostgreSQL's`);
      const from = physicalMeta(snapshot).binlog;
      if (!from) throw new UserError(`the backup of ${snapshot.time} recorded no binlog position (the server wrote no binlogs then): it cannot be rolled forward; restore it without --target-time`);
      const server = await startThrowaway(source, dir);
      try {
        const files = await replayBinlogs(repo, source, server.endpoint, from, target.recovery.time);
        notes.push(`replayed binlog events from ${from.file}:${from.position} up to ${target.recovery.time.toISOString()} (${files.length} archived binlog files)`);
      } finally {
        await server.stop();
      }
    }
  } catch (err) {
    // what was there comes back; a directory this restore created goes
    if (aside !== null || before === null || before.length === 0) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    if (aside !== null) await rename(aside, dir).catch(() => undefined);
    throw err;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  notes.unshift(`prepared ${chain.length === 1 ? 'a full backup' : `a full backup and ${chain.length - 1} incremental${chain.length > 2 ? 's' : ''}`} with mariadb-backup`);
  return { target: dir, bytes, notes };
}

async function exists(source: MariadbSource, target: DbRestoreTarget): Promise<boolean> {
  const list = await entries(targetDir(source, target));
  return list !== null && list.length > 0;
}

async function verify(source: MariadbSource, snapshot: Snapshot, target: DbRestoreTarget): Promise<DbCheck[]> {
  physicalMeta(snapshot);
  const dir = targetDir(source, target);
  const names = (await entries(dir)) ?? [];
  const files: DbCheck = names.some((n) => n.startsWith('ibdata') || n === 'mysql')
    ? { name: 'files restored', ok: true, detail: `${dir} holds a MariaDB data directory` }
    : { name: 'files restored', ok: false, detail: `${dir} holds no MariaDB data directory (no ibdata1, no mysql/)` };
  if (target.into === undefined) return [{ ...files, detail: `${files.detail}; server checks skipped: in place, the restore procedure starts the service and checks its health` }];
  const sqlChecks = source.checks.flatMap((c) => ('sql' in c ? [c.sql] : []));
  const notRun = (why: string): DbCheck[] => ['server starts', 'CHECK TABLE', ...sqlChecks.map((s) => `sql: ${s}`)].map((name) => ({ name, ok: false, detail: `not run: ${why}` }));
  if (!files.ok) return [files, ...notRun('no data directory')];
  let server;
  try {
    server = await startThrowaway(source, dir);
  } catch (err) {
    return [files, { name: 'server starts', ok: false, detail: errorMessage(err) }, ...notRun('the server did not start').slice(1)];
  }
  const endpoint = server.endpoint;
  const checks: DbCheck[] = [files, { name: 'server starts', ok: true, detail: `MariaDB ${server.version} started on the restored copy` }];
  try {
    const dbs = (await query(endpoint, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys') ORDER BY 1")).map((r) => r[0]!);
    const results = await Promise.all(dbs.map((db) => checkTables(endpoint, db)));
    const bad = results.filter((r) => !r.ok);
    checks.push(bad.length === 0 ? { name: 'CHECK TABLE', ok: true, detail: `${dbs.length} databases: ${results.map((r, i) => `${dbs[i]} ${r.detail}`).join(', ')}` } : { name: 'CHECK TABLE', ok: false, detail: bad.map((r) => r.detail).join('; ') });
    for (const sql of sqlChecks) {
      const name = `sql: ${sql}`;
      try {
        const rows = await query(endpoint, sql, { database: source.connection.database });
        const v = rows[0]?.[0];
        checks.push({ name, ok: v !== undefined && !['', '0', 'NULL'].includes(v), detail: rows.length === 0 ? 'no rows' : `first value: ${v}` });
      } catch (err) {
        checks.push({ name, ok: false, detail: errorMessage(err) });
      }
    }
    return checks;
  } finally {
    await server.stop();
  }
}

export const mariadbPhysicalDriver: DatabaseDriver<MariadbSource> = {
  describe: location,
  backup,
  exists,
  restore,
  verify,
  movesAside: true,
};
