/**
 * PostgreSQL physical backups: a full base backup of the whole cluster by pg_basebackup (tar format on stdout, the
 * WAL needed for consistency and the backup manifest inside the tar) streamed into the repository; restored by
 * extracting the tar into a data directory (whatever was there is moved aside, never deleted); verified by
 * pg_verifybackup and by starting a throwaway server on the restored copy (amcheck, the source's SQL checks).
 */
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, chmod, chown, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { PostgresSource } from '../../config/schema-sources.js';
import type { Repository } from '../../repo/repository.js';
import type { Snapshot } from '../../repo/snapshot.js';
import { backupStreams, readStream } from '../../snapshot/stream-backup.js';
import { systemClock } from '../../util/clock.js';
import { UsageError, UserError, errorMessage, isErrno } from '../../util/errors.js';
import { dbSnapshotOptions, type DatabaseDriver, type DbBackupOptions, type DbCheck, type DbRestoreResult, type DbRestoreTarget } from '../driver.js';
import { describePostgres, truthy } from './logical.js';
import { errorLines, psql, toolEnv, type PgToolsConfig } from './pg-tools.js';
import { quoteIdent, quoteLiteral } from './pg-sql.js';
import { PhysicalToolError, binPath, launch, runCmd } from './pg-process.js';
import { freePort } from '../../util/net.js';

export { PhysicalToolError } from './pg-process.js';

/** The one stream of a physical snapshot: pg_basebackup's tar of the data directory. */
export const BASE_TAR = 'base.tar';

/** What a physical backup records in snapshot.meta. */
export interface PostgresPhysicalMeta {
  readonly kind: 'postgres';
  readonly mode: 'physical';
  readonly format: 'tar';
  /** Name of the tar stream in the snapshot. */
  readonly stream: string;
  readonly server_version: string;
  readonly server_version_num: number;
  /** pg_control_system(): the cluster's identity; null when the role may not read it. */
  readonly system_identifier: string | null;
  readonly data_checksums: boolean;
  readonly pg_basebackup_version: string;
  /** WAL start / end of the backup (pg_basebackup -v), `X/Y`; the restored copy is consistent from end_lsn on. */
  start_lsn: string | null;
  end_lsn: string | null;
  timeline: number | null;
  /** Time pg_basebackup finished. */
  end_time: string | null;
  /** The named restore point made before the backup (only with wal_archiving), else null. */
  readonly restore_point: string | null;
  readonly warnings: string[];
}

/** How much of a tool's stderr is kept for messages. */
const INFO_SQL = `SELECT current_setting('server_version'), current_setting('server_version_num'),
  current_setting('data_checksums'),
  (SELECT coalesce(string_agg(spcname, ', ' ORDER BY spcname), '') FROM pg_catalog.pg_tablespace WHERE spcname NOT IN ('pg_default', 'pg_global')),
  pg_catalog.pg_is_in_recovery();`;

function timestamp(d: Date): string {
  return d.toISOString().slice(0, 19).replace(/-|:/g, '').replace('T', '_');
}

/** The snapshot's meta, checked to be a physical PostgreSQL backup. */
export function physicalMeta(snapshot: Snapshot): PostgresPhysicalMeta {
  const m = snapshot.meta;
  if (!m || m.kind !== 'postgres' || m.mode !== 'physical' || typeof m.stream !== 'string') {
    throw new UserError(`this snapshot is not a PostgreSQL physical backup (meta kind ${JSON.stringify(m?.kind)}, mode ${JSON.stringify(m?.mode)}): restore it with the driver that made it`);
  }
  return m as unknown as PostgresPhysicalMeta;
}

/** pg_basebackup's stdout; `onEnd` gets its stderr once it has exited successfully. */
async function* baseBackup(source: PostgresSource, label: string, onEnd: (stderr: string) => void, signal?: AbortSignal): AsyncGenerator<Buffer> {
  const env = await toolEnv(source, source.connection.database);
  // -X fetch: the WAL written during the backup goes into the tar (pg_wal/), so the copy is consistent on its own.
  // No compression: unchanged relation files come out byte-identical and deduplicate; the repository compresses.
  // PostgreSQL 15 writes the backup manifest into the same tar (backup_manifest), for pg_verifybackup.
  const args = ['-D', '-', '-Ft', '-X', 'fetch', '--checkpoint=fast', '-v', '-w', '-l', label];
  const r = launch(binPath(source, 'pg_basebackup'), args, {
    what: `pg_basebackup of ${describePostgres(source)}`,
    env,
    notFound: `pg_basebackup not found ${source.bin_dir ? `in bin_dir ${source.bin_dir}` : 'on PATH'}: install the PostgreSQL client tools (e.g. postgresql-client) or set bin_dir`,
    ...(signal ? { signal } : {}),
  });
  let finished = false;
  try {
    for await (const chunk of r.stdout) yield chunk;
    await r.done;
    finished = true;
    onEnd(r.stderr());
  } finally {
    if (!finished) r.kill();
  }
}

/** Fills the LSNs and timeline of meta from pg_basebackup -v's stderr. */
export function parseBaseBackupLog(stderr: string): { start_lsn: string | null; end_lsn: string | null; timeline: number | null } {
  const start = /write-ahead log start point: ([0-9A-F]+\/[0-9A-F]+) on timeline (\d+)/i.exec(stderr);
  const end = /write-ahead log end point: ([0-9A-F]+\/[0-9A-F]+)/i.exec(stderr);
  return { start_lsn: start?.[1] ?? null, end_lsn: end?.[1] ?? null, timeline: start?.[2] ? Number(start[2]) : null };
}

async function backup(repo: Repository, source: PostgresSource, o: DbBackupOptions): Promise<{ snapshotId: string; snapshot: Snapshot }> {
  if (o.type !== undefined && o.type !== 'full') {
    throw new UserError(`PostgreSQL physical ${o.type} backups are not supported yet: run a full backup (--type full); deduplication already stores only the changed parts of the data files`);
  }
  const signal = o.signal;
  const so = signal ? { signal } : {};
  const database = source.connection.database;
  const [[version = '', versionNum = '0', checksums = 'off', tablespaces = '', recovery = 'f'] = []] = await psql(source, database, INFO_SQL, so);
  if (tablespaces !== '') {
    throw new UserError(`${describePostgres(source)} has tablespaces outside the data directory (${tablespaces}): physical backups of clusters with tablespaces are not supported yet; use mode: logical`);
  }
  const warnings: string[] = [];
  let systemId: string | null = null;
  try {
    [[systemId = null] = []] = await psql(source, database, 'SELECT system_identifier FROM pg_catalog.pg_control_system();', so);
  } catch (err) {
    warnings.push(`system identifier not recorded: ${errorMessage(err)}`);
  }
  const now = systemClock.now();
  let restorePoint: string | null = null;
  if (source.wal_archiving && recovery !== 't') {
    const name = `safepoint-${timestamp(now)}`;
    try {
      await psql(source, database, `SELECT pg_catalog.pg_create_restore_point(${quoteLiteral(name)});`, so);
      restorePoint = name;
    } catch (err) {
      warnings.push(`restore point ${name} not created: ${errorMessage(err)}`);
    }
  }
  const bbVersion = (await runCmd(binPath(source, 'pg_basebackup'), ['--version'], { what: 'pg_basebackup --version', notFound: `pg_basebackup not found ${source.bin_dir ? `in bin_dir ${source.bin_dir}` : 'on PATH'}: install the PostgreSQL client tools (e.g. postgresql-client) or set bin_dir`, ...so })).stdout.trim();
  const meta: PostgresPhysicalMeta = {
    kind: 'postgres',
    mode: 'physical',
    format: 'tar',
    stream: BASE_TAR,
    server_version: version,
    server_version_num: Number(versionNum),
    system_identifier: systemId,
    data_checksums: checksums === 'on',
    pg_basebackup_version: bbVersion,
    start_lsn: null,
    end_lsn: null,
    timeline: null,
    end_time: null,
    restore_point: restorePoint,
    warnings,
  };
  // backupStreams records meta after the last stream has ended: what pg_basebackup reports at its end gets in
  const data = baseBackup(source, `safepoint ${now.toISOString()}`, (stderr) => {
    Object.assign(meta, parseBaseBackupLog(stderr));
    meta.end_time = systemClock.now().toISOString();
  }, signal);
  return backupStreams(repo, [{ name: BASE_TAR, data }], dbSnapshotOptions(source, o, meta as unknown as Record<string, unknown>, describePostgres(source)));
}

/** The data directory a restore writes: `into`, else the configured data_directory. */
function targetDir(source: PostgresSource, target: DbRestoreTarget): string {
  if (target.into !== undefined) return resolve(target.into);
  if (source.data_directory === undefined) {
    throw new UsageError(`source ${source.name}: an in-place physical restore needs data_directory (the server's data directory, e.g. /var/lib/postgresql/15/main) in the configuration, or restore into another directory`);
  }
  return resolve(source.data_directory);
}

async function entries(dir: string): Promise<string[] | null> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return null;
    if (isErrno(err, 'ENOTDIR')) throw new UserError(`${dir} is not a directory: a physical restore needs a data directory`, { cause: err });
    throw err;
  }
}

/** The pid of a server running on `dir` (postmaster.pid names a live process), else null. */
export async function runningPostmaster(dir: string): Promise<number | null> {
  let text: string;
  try {
    text = await readFile(join(dir, 'postmaster.pid'), 'utf8');
  } catch {
    return null;
  }
  const pid = Number(text.split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (err) {
    return isErrno(err, 'EPERM') ? pid : null;
  }
}

async function exists(source: PostgresSource, target: DbRestoreTarget): Promise<boolean> {
  const list = await entries(targetDir(source, target));
  return list !== null && list.length > 0;
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

async function restore(repo: Repository, snapshot: Snapshot, source: PostgresSource, target: DbRestoreTarget, o: { signal?: AbortSignal }): Promise<DbRestoreResult> {
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
    aside = `${dir}.before-${timestamp(systemClock.now())}`;
    if ((await entries(aside)) !== null) aside = `${aside}-${process.pid}`;
    try {
      await rename(dir, aside);
    } catch (err) {
      throw new UserError(`cannot move ${dir} aside to ${aside}: ${errorMessage(err)} (a mount point cannot be moved: empty it yourself, keeping a copy, and restore again)`, { cause: err });
    }
    notes.push(`the previous contents of ${dir} are kept, unchanged, in ${aside} (remove it when no longer needed)`);
  }
  const created = before === null || aside !== null;
  if (created) await mkdir(dir, { recursive: true, mode: 0o700 });
  let bytes = 0;
  const counted = (async function* () {
    for await (const b of readStream(repo, snapshot, meta.stream)) {
      bytes += b.length;
      yield b;
    }
  })();
  try {
    await runCmd('tar', ['-x', '-f', '-', '-C', dir], { what: `tar extracting the base backup into ${dir}`, stdin: counted, notFound: 'tar not found on PATH: install tar', ...(o.signal ? { signal: o.signal } : {}) });
    if (isRoot()) {
      // tar as root gives the files their owner in the backup (by name); the directory itself follows them
      const owner = await stat(join(dir, 'PG_VERSION'));
      await chown(dir, owner.uid, owner.gid);
    }
    await chmod(dir, 0o700);
  } catch (err) {
    // our own half-extracted directory goes; what was there before comes back
    if (created) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    else await emptyDir(dir).catch(() => undefined);
    if (aside !== null) await rename(aside, dir).catch(() => undefined);
    throw err;
  }
  notes.push(`restored a base backup of PostgreSQL ${meta.server_version}; the server recovers to the end of the backup (${meta.end_lsn ?? 'unknown LSN'}) when it starts`);
  return { target: dir, bytes, notes };
}

async function emptyDir(dir: string): Promise<void> {
  for (const e of await readdir(dir)) await rm(join(dir, e), { recursive: true, force: true });
}


/** A word for a shell command line (pg_ctl -o runs through /bin/sh). */
function shellWord(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The login name of a uid, from /etc/passwd; null when unknown. */
async function userName(uid: number): Promise<string | null> {
  try {
    const line = (await readFile('/etc/passwd', 'utf8')).split('\n').find((l) => l.split(':')[2] === String(uid));
    return line?.split(':')[0] ?? null;
  } catch {
    return null;
  }
}

function sqlChecksOf(source: PostgresSource): string[] {
  return source.checks.flatMap((c) => ('sql' in c ? [c.sql] : []));
}

/** bt_index_check of the valid btree indexes of user tables, with amcheck from `schema`; one row: the count. */
function indexCheckSql(schema: string): string {
  return `SELECT count(${quoteIdent(schema)}.bt_index_check(c.oid)) FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
  JOIN pg_catalog.pg_am a ON a.oid = c.relam JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE a.amname = 'btree' AND c.relpersistence <> 't' AND i.indisvalid AND i.indisready
    AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%';`;
}

/** amcheck on every connectable database, installed for the check in a rolled-back transaction when missing. */
async function amcheck(cfg: PgToolsConfig): Promise<DbCheck> {
  const name = 'amcheck';
  try {
    const dbs = (await psql(cfg, 'postgres', 'SELECT datname FROM pg_catalog.pg_database WHERE datallowconn AND NOT datistemplate ORDER BY 1;')).map((r) => r[0] ?? '');
    const [[available] = []] = await psql(cfg, 'postgres', "SELECT count(*) > 0 FROM pg_catalog.pg_available_extensions WHERE name = 'amcheck';");
    if (available !== 't') return { name, ok: true, detail: 'amcheck not available (install the PostgreSQL contrib package to check indexes)' };
    let indexes = 0;
    for (const db of dbs) {
      const [[schema] = []] = await psql(cfg, db, "SELECT n.nspname FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'amcheck';");
      const tmp = 'safepoint_amcheck';
      const install = schema === undefined ? `CREATE SCHEMA ${tmp};\nCREATE EXTENSION amcheck SCHEMA ${tmp};\n` : '';
      const rows = await psql(cfg, db, `BEGIN;\n${install}${indexCheckSql(schema ?? tmp)}\nROLLBACK;`, { what: `amcheck on database ${JSON.stringify(db)}` });
      indexes += Number(rows.at(-1)?.[0] ?? 0);
    }
    return { name, ok: true, detail: `${indexes} btree indexes of user tables in ${dbs.length} databases checked (bt_index_check)` };
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

  // the backup manifest holds only until the copy is first started (recovery rewrites files)
  try {
    await stat(join(dir, 'backup_label'));
    await stat(join(dir, 'backup_manifest'));
    try {
      await runCmd(binPath(source, 'pg_verifybackup'), ['-q', dir], { what: 'pg_verifybackup', notFound: 'pg_verifybackup not found' });
      checks.push({ name: 'backup manifest', ok: true, detail: 'pg_verifybackup: every file and the WAL match the backup manifest' });
    } catch (err) {
      if (err instanceof UserError) checks.push({ name: 'backup manifest', ok: true, detail: `not checked: ${err.message}` });
      else checks.push({ name: 'backup manifest', ok: false, detail: errorMessage(err) });
    }
  } catch {
    // already started once, or no manifest: nothing to compare
  }

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
    const settings: string[] = [`-p ${port}`, `-k ${shellWord(run)}`, "-c listen_addresses=''", '-c archive_mode=off', `-c hba_file=${shellWord(hba)}`,
      '-c logging_collector=off', '-c ssl=off', "-c unix_socket_group=''", '-c unix_socket_permissions=0700'];
    try {
      await stat(join(dir, 'postgresql.conf'));
    } catch {
      // Debian keeps the configuration in /etc: start with the defaults
      const conf = join(run, 'postgresql.conf');
      await writeFile(conf, '', { mode: 0o600 });
      if (as) await chown(conf, as.uid, as.gid);
      settings.push(`-c config_file=${shellWord(conf)}`);
    }
    try {
      await runCmd(pgCtl, ['-D', dir, '-l', log, '-o', settings.join(' '), '-w', '-t', '300', 'start'], { what: `pg_ctl start on ${dir}`, ...runAs });
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
      const [[version = '', recovering = '', sysid = ''] = []] = await psql(cfg, 'postgres', "SELECT current_setting('server_version'), pg_catalog.pg_is_in_recovery(), (SELECT system_identifier FROM pg_catalog.pg_control_system());");
      const same = meta.system_identifier === null || meta.system_identifier === sysid;
      const ok = recovering === 'f' && same;
      const detail = !same ? `the restored cluster's system identifier ${sysid} is not the backup's ${meta.system_identifier}` : recovering === 't' ? 'the server is still in recovery' : `PostgreSQL ${version} started on the restored copy, recovery finished, system identifier ${sysid}`;
      checks.push({ name: 'server starts', ok, detail });
    } catch (err) {
      return [...checks, { name: 'server starts', ok: false, detail: errorMessage(err) }, ...notRun('the server does not answer').slice(1)];
    }
    checks.push(await amcheck(cfg));
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

export const postgresPhysicalDriver: DatabaseDriver<PostgresSource> = {
  describe: (source) => describePostgres(source),
  backup,
  exists,
  restore,
  verify,
};
