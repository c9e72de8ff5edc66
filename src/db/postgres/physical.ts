/**
 * PostgreSQL physical backups: base backups (full, diff, incr; see base-backup.ts) restored file by file into a data
 * directory (whatever was there is moved aside, never deleted) with the WAL they need, recovery settings written for
 * point-in-time recovery (recovery.ts); verified by starting a throwaway server on the restored copy, which also
 * runs the recovery (amcheck, the source's SQL checks).
 */
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PostgresSource } from '../../config/schema-sources.js';
import type { Repository } from '../../repo/repository.js';
import type { Snapshot } from '../../repo/snapshot.js';
import { loadTree, type TreeNode } from '../../repo/tree.js';
import { restoreTree } from '../../snapshot/restorer.js';
import { readNode, writeChunksTo } from '../../snapshot/stream-backup.js';
import { UsageError, UserError, errorMessage } from '../../util/errors.js';
import { freePort } from '../../util/net.js';
import { userName } from '../../util/user.js';
import { shellWord } from '../../util/shell.js';
import { dirEntries, keptAsideNote, livePidFile, moveAside, syncFileSystem, targetDataDir } from '../data-dir.js';
import { type DatabaseDriver, type DbCheck, type DbRestoreResult, type DbRestoreTarget } from '../driver.js';
import { BACKUP_END_DIR, baseBackup, type PostgresPhysicalMeta } from './base-backup.js';
import { describePostgres, truthy } from './logical.js';
import { PhysicalToolError, binPath, runCmd } from './pg-process.js';
import { errorLines, psql, type PgToolsConfig } from './pg-tools.js';
import { confString, describeTarget, recoverySettings, writeRecovery } from './recovery.js';
import { PREFETCH_CLEANUP_COMMAND, PREFETCH_DIR, planPrefetch, prefetchingRestoreCommand, startPrefetch, walEntries, type Prefetch, type PrefetchPlan, type PrefetchUntil } from './wal-archive.js';
import { parseLsn, segmentOf } from './wal.js';
import { recoveryBuffersMbHere } from '../recovery-memory.js';

export { PhysicalToolError } from './pg-process.js';
export type { PostgresPhysicalMeta } from './base-backup.js';

/** The snapshot's meta, checked to be a PostgreSQL base backup. */
export function physicalMeta(snapshot: Snapshot): PostgresPhysicalMeta {
  const m = snapshot.meta;
  if (!m || m.kind !== 'postgres' || m.mode !== 'physical') {
    throw new UserError(`this snapshot is not a PostgreSQL base backup (meta kind ${JSON.stringify(m?.kind)}, mode ${JSON.stringify(m?.mode)}): restore it with the driver that made it`);
  }
  if (m.format !== 'tree') throw new UserError(`this base backup was made in the ${String(m.format)} format of an earlier safepoint, which this version does not restore`);
  return m as unknown as PostgresPhysicalMeta;
}

function targetDir(source: PostgresSource, target: DbRestoreTarget): string {
  return targetDataDir(source, target, '/var/lib/postgresql/15/main');
}

const entries = dirEntries;

/** WAL still being fetched ahead for a copy restored `into` a folder, by restore target: its verify ends it. */
const fetching = new WeakMap<DbRestoreTarget, Prefetch>();
/** Archived WAL files fetched at once (each is read, decrypted, hash-checked and written). */
const PREFETCH_CONCURRENCY = 2;

/** Waits for the WAL fetch of a restored copy to end (stopping it first when `stop`); a note on what it did. */
async function endPrefetch(target: DbRestoreTarget, stop: boolean): Promise<string | null> {
  const p = fetching.get(target);
  if (!p) return null;
  fetching.delete(target);
  if (stop) p.abort();
  const got = await p.done;
  return `${got.files} WAL files (${(got.bytes / 1048576).toFixed(0)} MiB) fetched ahead in ${got.seconds.toFixed(1)} s${got.failed.length > 0 ? `; ${got.failed.length} could not be (${got.failed[0]}): recovery asked safepoint pg archive-get for them` : ''}`;
}

/** The pid of a server running on `dir` (postmaster.pid names a live process), else null. */
export async function runningPostmaster(dir: string): Promise<number | null> {
  return livePidFile(join(dir, 'postmaster.pid'));
}

async function exists(source: PostgresSource, target: DbRestoreTarget): Promise<boolean> {
  const list = await entries(targetDir(source, target));
  return list !== null && list.length > 0;
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

async function restore(repo: Repository, snapshot: Snapshot, source: PostgresSource, target: DbRestoreTarget, _o: { signal?: AbortSignal }): Promise<DbRestoreResult> {
  const meta = physicalMeta(snapshot);
  const dir = targetDir(source, target);
  const notes: string[] = [];
  const before = await entries(dir);
  let aside: string | null = null;
  if (before !== null && before.length > 0) {
    const pid = await runningPostmaster(dir);
    if (pid !== null) {
      throw new UserError(`a PostgreSQL server (pid ${pid}) runs on ${dir}: stop it before restoring over its data directory (if no server runs, remove the stale ${join(dir, 'postmaster.pid')})`);
    }
    aside = await moveAside(dir);
    notes.push(keptAsideNote(dir, aside));
  }
  const created = before === null || aside !== null;
  if (created) await mkdir(dir, { recursive: true, mode: 0o700 });
  let bytes = 0;
  const rec = target.recovery;
  const recovering = rec !== undefined && (rec.kind !== 'immediate' || target.restoreCommand !== undefined);
  let prefetch = null as Prefetch | null; // (set in beginPrefetch)
  let planned: PrefetchPlan | null = null;
  let beginPrefetch: (() => Promise<void>) | null = null;
  try {
    if (recovering && !target.restoreCommand) throw new UsageError(`recovery to ${describeTarget(rec)} reads the WAL archive: set wal_archiving: true on source ${source.name}`);
    await repo.loadIndex();
    const root = (await loadTree(repo, snapshot.tree)).nodes;
    const data = root.find((n) => n.name === meta.data_node && n.type === 'dir');
    const end = root.find((n) => n.name === BACKUP_END_DIR && n.type === 'dir');
    if (!data?.subtree || !end?.subtree) throw new UserError(`snapshot ${snapshot.time} is not a complete base backup (no ${data ? BACKUP_END_DIR : meta.data_node} entry): restore another one`);
    // the WAL the recovery will read is fetched by this process (the repository is open already: no process to start
    // per file); a copy's verify starts its server meanwhile and its recovery waits for each file it needs
    // (restore_command, wal-archive.ts)
    if (recovering) {
      const startSegment = meta.wal_segments[0] ?? '000000000000000000000000';
      const until: PrefetchUntil = rec.kind === 'time' ? { time: rec.time } : rec.kind === 'lsn' ? { segment: segmentOf(meta.timeline, parseLsn(rec.lsn), meta.wal_segment_size) } : rec.kind === 'immediate' ? { segment: startSegment }
        : rec.kind === 'name' && meta.restore_point?.name === rec.name ? { segment: segmentOf(meta.timeline, parseLsn(meta.restore_point.lsn), meta.wal_segment_size) } : null;
      const archive = await walEntries(repo, source.name);
      const plan = planPrefetch(archive, startSegment, until);
      planned = plan;
      beginPrefetch = async () => {
        await mkdir(join(dir, 'pg_wal'), { recursive: true, mode: 0o700 }); // in place, before the files restore it
        prefetch = await startPrefetch(repo, archive, plan, join(dir, PREFETCH_DIR), { owner: isRoot() ? { uid: data.uid, gid: data.gid } : null, concurrency: PREFETCH_CONCURRENCY });
      };
      // in place, the WAL comes alongside the data files; for a copy, after them: its recovery (one process, one
      // core) reads the WAL as it arrives, while the data files get both cores
      if (target.into === undefined) await beginPrefetch();
    }
    const tFiles = Date.now();
    const r = await restoreTree(repo, data.subtree, { target: dir, overwrite: true });
    const filesSeconds = (Date.now() - tFiles) / 1000;
    if (r.errors.length > 0) throw new UserError(`${r.errors.length} files of the base backup could not be restored: ${r.errors.slice(0, 3).join('; ')}`);
    bytes += r.bytes;
    // the directory takes the owner and mode of the backed-up one (restoreTree applies them as root)
    if (prefetch === null && beginPrefetch !== null) await beginPrefetch();
    const owner = await stat(join(dir, 'PG_VERSION'));
    if (isRoot()) await chown(dir, owner.uid, owner.gid);
    await chmod(dir, 0o700);
    // chunk by chunk into a new file (a 16 MiB WAL segment gathered in one fresh buffer costs more than the copy)
    const put = async (node: TreeNode, path: string): Promise<void> => {
      bytes += await writeChunksTo(path, readNode(repo, node), isRoot() ? { uid: owner.uid, gid: owner.gid } : null);
    };
    const endNodes = (await loadTree(repo, end.subtree)).nodes;
    await mkdir(join(dir, 'pg_wal', 'archive_status'), { recursive: true, mode: 0o700 });
    for (const n of endNodes) {
      if (n.type === 'file' && (n.name === 'backup_label' || n.name === 'tablespace_map')) await put(n, join(dir, n.name));
      if (n.type === 'dir' && n.name === 'wal' && n.subtree) {
        for (const seg of (await loadTree(repo, n.subtree)).nodes) if (seg.type === 'file') await put(seg, join(dir, 'pg_wal', seg.name));
      }
    }
    const settings: string[] = [];
    if (target.into !== undefined) {
      // a copy must not push its WAL (a new timeline) into the archive of the cluster it was taken from
      settings.push("archive_mode = 'off'");
      notes.push('WAL archiving is off on the copy (archive_mode in postgresql.auto.conf)');
    }
    if (recovering && prefetch && planned && target.restoreCommand) {
      const ahead = `${planned.files.length} archived WAL files (${(planned.bytes / 1048576).toFixed(0)} MiB) fetched ahead into ${PREFETCH_DIR}`;
      if (target.into === undefined) {
        // in place, the server starts later (the services): everything is fetched before the step ends
        const t = Date.now();
        const got = await prefetch.done;
        notes.push(`${ahead}: ${got.files} written, ${((Date.now() - t) / 1000).toFixed(1)} s after the data files${got.failed.length > 0 ? ` (${got.failed.length} failed: ${got.failed[0]})` : ''}; the rest, if any, comes through safepoint pg archive-get`);
      } else {
        // the copy's verify starts the server while the rest arrives; it waits for the fetch to end (or stops it)
        fetching.set(target, prefetch);
        notes.push(`${ahead} while the copy recovers; the rest, if any, comes through safepoint pg archive-get`);
      }
      prefetch = null;
      settings.push(...recoverySettings(rec, prefetchingRestoreCommand(target.restoreCommand)), `recovery_end_command = ${confString(PREFETCH_CLEANUP_COMMAND)}`);
      notes.push(`recovery settings written: the server replays the archived WAL to ${describeTarget(rec)} when it starts${rec.kind === 'latest' ? '' : ', then opens for writes on a new timeline'}`);
    } else {
      notes.push(`the server recovers to the end of the base backup (${meta.stop_lsn ?? 'unknown LSN'}) when it starts`);
    }
    if (settings.length > 0) await writeRecovery(dir, settings, recovering);
    const tSync = Date.now();
    await syncFileSystem(dir); // on disk before the restore is reported done
    notes.push(`data files written in ${filesSeconds.toFixed(1)} s, flushed to disk in ${((Date.now() - tSync) / 1000).toFixed(1)} s`);
  } catch (err) {
    // our own half-restored directory goes; what was there before comes back
    // the WAL fetch (maybe handed over to verify already) stops before anything is removed
    const pending = prefetch ?? fetching.get(target) ?? null;
    fetching.delete(target);
    if (pending) {
      pending.abort();
      await pending.done;
    }
    if (created) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    else await emptyDir(dir).catch(() => undefined);
    if (aside !== null) await rename(aside, dir).catch(() => undefined);
    throw err;
  }
  notes.unshift(`restored a ${snapshot.type} base backup of PostgreSQL ${meta.server_version} (${meta.wal_segments.length} WAL segments)`);
  return { target: dir, bytes, notes };
}

async function emptyDir(dir: string): Promise<void> {
  for (const e of await readdir(dir)) await rm(join(dir, e), { recursive: true, force: true });
}


function sqlChecksOf(source: PostgresSource): string[] {
  return source.checks.flatMap((c) => ('sql' in c ? [c.sql] : []));
}

/**
 * One script per database: amcheck installed for the check (in its own schema, in a transaction rolled back) when
 * missing, its schema put on the search path, then bt_index_check of the valid btree indexes of user tables; the
 * last row is the count. One psql process per database: each costs a process start while the copy is being timed.
 */
function indexCheckScript(): string {
  return `BEGIN;
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'amcheck') THEN
    CREATE SCHEMA safepoint_amcheck;
    CREATE EXTENSION amcheck SCHEMA safepoint_amcheck;
  END IF;
  PERFORM pg_catalog.set_config('search_path', (SELECT pg_catalog.quote_ident(n.nspname) FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'amcheck') || ', pg_catalog', true);
END $$;
SELECT count(bt_index_check(c.oid)) FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
  JOIN pg_catalog.pg_am a ON a.oid = c.relam JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE a.amname = 'btree' AND c.relpersistence <> 't' AND i.indisvalid AND i.indisready
    AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%';
ROLLBACK;`;
}

/** amcheck on every connectable database, installed for the check in a rolled-back transaction when missing. */
async function amcheck(cfg: PgToolsConfig): Promise<DbCheck> {
  const name = 'amcheck';
  try {
    const rows = await psql(cfg, 'postgres', "SELECT datname, (SELECT count(*) > 0 FROM pg_catalog.pg_available_extensions WHERE name = 'amcheck') FROM pg_catalog.pg_database WHERE datallowconn AND NOT datistemplate ORDER BY 1;");
    if (rows[0]?.[1] !== 't') return { name, ok: true, detail: 'amcheck not available (install the PostgreSQL contrib package to check indexes)' };
    let indexes = 0;
    for (const [db = ''] of rows) {
      const out = await psql(cfg, db, indexCheckScript(), { what: `amcheck on database ${JSON.stringify(db)}` });
      indexes += Number(out.filter((r) => r.length === 1 && /^\d+$/.test(r[0] ?? '')).at(-1)?.[0] ?? 0);
    }
    return { name, ok: true, detail: `${indexes} btree indexes of user tables in ${rows.length} databases checked (bt_index_check)` };
  } catch (err) {
    return { name, ok: false, detail: errorMessage(err) };
  }
}

/** Checks the restored files without starting anything (in place: starting the server is the procedure's job). */
async function filesCheck(dir: string): Promise<DbCheck> {
  const missing: string[] = [];
  for (const f of ['PG_VERSION', 'global/pg_control']) {
    try {
      await stat(join(dir, f));
    } catch {
      missing.push(f);
    }
  }
  if (missing.length > 0) return { name: 'files restored', ok: false, detail: `${dir} is not a PostgreSQL data directory: ${missing.join(', ')} missing` };
  const version = (await readFile(join(dir, 'PG_VERSION'), 'utf8')).trim();
  return { name: 'files restored', ok: true, detail: `${dir} holds a PostgreSQL ${version} data directory` };
}

async function verify(source: PostgresSource, snapshot: Snapshot, target: DbRestoreTarget): Promise<DbCheck[]> {
  try {
    return await verifyCopy(source, snapshot, target);
  } finally {
    await endPrefetch(target, true); // a check that did not get as far as recovery: the fetch stops
  }
}

async function verifyCopy(source: PostgresSource, snapshot: Snapshot, target: DbRestoreTarget): Promise<DbCheck[]> {
  const meta = physicalMeta(snapshot);
  const dir = targetDir(source, target);
  const files = await filesCheck(dir);
  const sqlChecks = sqlChecksOf(source);
  if (target.into === undefined) {
    return [{ ...files, detail: `${files.detail}; server checks skipped: in place, the restore procedure starts the service and checks its health` }];
  }
  const checks: DbCheck[] = [files];
  const notRun = (why: string): DbCheck[] => ['server starts', 'amcheck', ...sqlChecks.map((s) => `sql: ${s}`)].map((name) => ({ name, ok: false, detail: `not run: ${why}` }));
  if (!files.ok) return [...checks, ...notRun('no data directory')];
  const pid = await runningPostmaster(dir);
  if (pid !== null) return [...checks, ...notRun(`a server (pid ${pid}) already runs on ${dir}`)];

  const st = await stat(dir);
  let as: { uid: number; gid: number } | null = null;
  if (isRoot()) {
    if (st.uid === 0) return [...checks, ...notRun(`${dir} belongs to root and PostgreSQL refuses to run as root: chown -R it to the database's OS user`)];
    as = { uid: st.uid, gid: st.gid };
  }
  const owner = as ? await userName(as.uid) : null;

  const run = await mkdtemp(join(tmpdir(), 'safepoint-pgverify-'));
  let started = false;
  const pgCtl = binPath(source, 'pg_ctl');
  const runAs = { ...(as ? { as } : {}), cwd: run };
  try {
    if (as) await chown(run, as.uid, as.gid);
    const port = await freePort();
    const log = join(run, 'server.log');
    const hba = join(run, 'pg_hba.conf');
    // only our private socket folder, trust: no TCP, no password needed, and nothing of the copy's pg_hba.conf applies
    await writeFile(hba, 'local all all trust\n', { mode: 0o600 });
    if (as) await chown(hba, as.uid, as.gid);
    // the restore flushed the files already: syncfs instead of an fsync per file when the copy starts (PostgreSQL 14+)
    const settings: string[] = [`-p ${port}`, `-k ${shellWord(run)}`, "-c listen_addresses=''", '-c archive_mode=off', `-c hba_file=${shellWord(hba)}`, ...(meta.server_version_num >= 140000 ? ['-c recovery_init_sync_method=syncfs'] : []),
      '-c logging_collector=off', '-c ssl=off', "-c unix_socket_group=''", '-c unix_socket_permissions=0700',
      // replay keeps its pages cached (recovery-memory.ts): half the recovery time on the benchmark
      `-c shared_buffers=${recoveryBuffersMbHere()}MB`];
    try {
      await stat(join(dir, 'postgresql.conf'));
    } catch {
      // Debian keeps the configuration in /etc: start with the defaults
      const conf = join(run, 'postgresql.conf');
      await writeFile(conf, '', { mode: 0o600 });
      if (as) await chown(conf, as.uid, as.gid);
      settings.push(`-c config_file=${shellWord(conf)}`);
    }
    const t0 = Date.now();
    const start = (): Promise<unknown> => runCmd(pgCtl, ['-D', dir, '-l', log, '-o', settings.join(' '), '-w', '-t', '300', 'start'], { what: `pg_ctl start on ${dir}`, ...runAs });
    try {
      await start().catch(async (err: unknown) => {
        // a machine that will not map that much shared memory (strict overcommit, a small shm limit): the default
        const at = settings.findIndex((s) => s.startsWith('-c shared_buffers='));
        if (at < 0 || !/shared memory/i.test(await readFile(log, 'utf8').catch(() => ''))) throw err;
        settings.splice(at, 1);
        await start();
      });
      started = true;
    } catch (err) {
      const tail = await readFile(log, 'utf8').catch(() => '');
      const why = err instanceof PhysicalToolError && tail ? `${err.message}; server log: ${errorLines(tail)}` : errorMessage(err);
      return [...checks, { name: 'server starts', ok: false, detail: why }, ...notRun('the server did not start').slice(1)];
    }
    // the configured role, else the data directory owner's name (initdb's default superuser)
    const user = source.connection.user ?? owner ?? undefined;
    const cfg: PgToolsConfig = { connection: { host: run, port, database: source.connection.database, ...(user !== undefined ? { user } : {}) }, ...(source.bin_dir ? { bin_dir: source.bin_dir } : {}) };
    try {
      const reached = await waitForRecovery(cfg, log, RECOVERY_TIMEOUT_MS);
      const recovered = (Date.now() - t0) / 1000;
      const fetched = await endPrefetch(target, true);
      await rm(join(dir, PREFETCH_DIR), { recursive: true, force: true }); // what recovery did not need
      const [[version = '', sysid = '', timeline = ''] = []] = await psql(cfg, 'postgres', "SELECT current_setting('server_version'), (SELECT system_identifier FROM pg_catalog.pg_control_system()), (SELECT timeline_id FROM pg_catalog.pg_control_checkpoint());");
      const same = meta.system_identifier === null || meta.system_identifier === sysid;
      const detail = !same
        ? `the restored cluster's system identifier ${sysid} is not the backup's ${meta.system_identifier}`
        : `PostgreSQL ${version} started on the restored copy, recovery finished in ${recovered.toFixed(1)} s${target.recovery ? ` (${describeTarget(target.recovery)}${reached ? `, ${reached}` : ''})` : ''}${fetched ? ` (${fetched})` : ''}, timeline ${timeline}, system identifier ${sysid}`;
      checks.push({ name: 'server starts', ok: same, detail });
    } catch (err) {
      return [...checks, { name: 'server starts', ok: false, detail: errorMessage(err) }, ...notRun('the server does not answer').slice(1)];
    }
    const t1 = Date.now();
    const am = await amcheck(cfg);
    checks.push({ ...am, detail: `${am.detail} in ${((Date.now() - t1) / 1000).toFixed(1)} s` });
    for (const sql of sqlChecks) {
      const name = `sql: ${sql}`;
      try {
        const rows = await psql(cfg, source.connection.database, /;\s*$/.test(sql) ? sql : `${sql};`);
        const value = rows[0]?.[0];
        checks.push({ name, ok: truthy(value), detail: rows.length === 0 ? 'no rows' : `first value: ${value}` });
      } catch (err) {
        checks.push({ name, ok: false, detail: errorMessage(err) });
      }
    }
    return checks;
  } finally {
    if (started) await runCmd(pgCtl, ['-D', dir, '-m', 'fast', '-w', '-t', '120', 'stop'], { what: `pg_ctl stop on ${dir}`, ...runAs }).catch(() => runCmd(pgCtl, ['-D', dir, '-m', 'immediate', '-w', 'stop'], { what: 'pg_ctl stop', ...runAs }).catch(() => undefined));
    await rm(run, { recursive: true, force: true });
  }
}

/** How long a restored copy may take to replay WAL before the check gives up. */
const RECOVERY_TIMEOUT_MS = 30 * 60_000;

/**
 * Waits until the server has left recovery (reached its target and promoted, or replayed everything); resolves with
 * what the log says about where it stopped. A server that shuts down instead (target not reached) fails with its log.
 */
async function waitForRecovery(cfg: PgToolsConfig, log: string, timeoutMs: number): Promise<string | null> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let recovering: string | undefined;
    try {
      recovering = (await psql(cfg, 'postgres', 'SELECT pg_catalog.pg_is_in_recovery();'))[0]?.[0];
    } catch (err) {
      const tail = await readFile(log, 'utf8').catch(() => '');
      throw new UserError(`the restored server stopped during recovery: ${errorLines(tail) || errorMessage(err)}`, { cause: err });
    }
    if (recovering === 'f') break;
    if (Date.now() > deadline) throw new UserError(`the restored server is still recovering after ${Math.round(timeoutMs / 60000)} minutes`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const text = await readFile(log, 'utf8').catch(() => '');
  const stop = /recovery stopping (before|after) [^\n]*/.exec(text);
  return stop ? stop[0].replace(/\s+/g, ' ').trim() : null;
}

/**
 * `--start`: starts PostgreSQL on a copy restored with `into`, on `port` (else the configured one), as the data
 * directory's owner; a Debian-style copy without postgresql.conf / pg_hba.conf gets minimal ones (local peer, TCP
 * on localhost with scram). Resolves once the server accepts connections and has left recovery.
 */
async function startRestored(source: PostgresSource, target: DbRestoreTarget): Promise<string> {
  if (target.into === undefined) throw new UsageError('--start applies to a copy restored elsewhere (--into DIR); in place, the services start the server');
  const dir = targetDir(source, target);
  const st = await stat(dir);
  const as = isRoot() ? { uid: st.uid, gid: st.gid } : null;
  if (as?.uid === 0) throw new UserError(`${dir} belongs to root and PostgreSQL refuses to run as root: chown -R it to the database's OS user`);
  const made: string[] = [];
  const ensure = async (name: string, text: string): Promise<void> => {
    try {
      await stat(join(dir, name));
    } catch {
      await writeFile(join(dir, name), text, { mode: 0o600 });
      if (as) await chown(join(dir, name), as.uid, as.gid);
      made.push(name);
    }
  };
  await ensure('postgresql.conf', "# written by safepoint restore --start: the backed-up server kept its configuration elsewhere\nlisten_addresses = 'localhost'\n");
  await ensure('pg_hba.conf', '# written by safepoint restore --start\nlocal all all peer\nhost all all 127.0.0.1/32 scram-sha-256\nhost all all ::1/128 scram-sha-256\n');
  const port = target.port ?? source.connection.port;
  const log = `${dir}.log`;
  if (as) {
    // the server writes its log as the data directory's owner, beside the directory
    await writeFile(log, '', { flag: 'a', mode: 0o600 });
    await chown(log, as.uid, as.gid);
  }
  const pgCtl = binPath(source, 'pg_ctl');
  try {
    await runCmd(pgCtl, ['-D', dir, '-l', log, '-o', `-p ${port}`, '-w', '-t', '300', 'start'], { what: `pg_ctl start on ${dir}`, ...(as ? { as } : {}), cwd: dir });
  } catch (err) {
    const tail = await readFile(log, 'utf8').catch(() => '');
    throw new UserError(`${errorMessage(err)}${tail ? `; server log: ${errorLines(tail)}` : ''}`, { cause: err });
  }
  return `PostgreSQL runs on port ${port} on ${dir} (log ${log})${made.length > 0 ? `; ${made.join(' and ')} written with defaults` : ''}; stop it with: pg_ctl -D ${dir} stop`;
}

export const postgresPhysicalDriver: DatabaseDriver<PostgresSource> = {
  describe: (source) => describePostgres(source),
  backup: baseBackup,
  movesAside: true,
  startRestored,
  exists,
  restore,
  verify,
};
