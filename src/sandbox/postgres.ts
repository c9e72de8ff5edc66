/**
 * A throwaway PostgreSQL server for restore drills: initdb (data checksums, trust authentication, locale C, UTF8) in
 * a new temporary folder, started with pg_ctl on a free port of 127.0.0.1 only, its socket and log in the same
 * folder, fsync off. initdb refuses to run as root: under root the folder belongs to the `postgres` OS user and the
 * server tools run as it (runuser).
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, appendFile, chown, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { PostgresSource } from '../config/schema-sources.js';
import { runCmd, PhysicalToolError } from '../db/postgres/pg-process.js';
import { errorLines, psql, type PgToolsConfig } from '../db/postgres/pg-tools.js';
import { quoteIdent } from '../db/postgres/pg-sql.js';
import { SafepointError, UserError } from '../util/errors.js';
import { freePort } from '../util/net.js';
import { currentUser, userIds } from '../util/user.js';
import { sandboxError, type DbSandbox, type PostgresSandboxOptions } from './index.js';

const run = promisify(execFile);

/** The superuser initdb creates; the source's user is created next to it when it has another name. */
const BOOTSTRAP = 'postgres';
/** The OS user owning the cluster when safepoint runs as root. */
const OS_USER = 'postgres';
const SERVER_TOOLS = ['initdb', 'pg_ctl'] as const;

/** Settings of a server nobody depends on: no durability, no replication, no archiving. */
const SETTINGS = {
  listen_addresses: '127.0.0.1',
  fsync: 'off',
  synchronous_commit: 'off',
  full_page_writes: 'off',
  wal_level: 'minimal',
  max_wal_senders: '0',
  archive_mode: 'off',
  max_wal_size: '1GB',
  logging_collector: 'off',
} as const;

async function executable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first of initdb / pg_ctl missing from `dir`, or null. */
async function missingTool(dir: string): Promise<string | null> {
  for (const tool of SERVER_TOOLS) if (!(await executable(join(dir, tool)))) return tool;
  return null;
}

/**
 * Where initdb and pg_ctl are: bin_dir when the source sets it (and only there), else `pg_config --bindir`, else
 * /usr/lib/postgresql/<newest>/bin. Throws a UserError naming the fix when they are nowhere.
 */
export async function postgresServerBinDir(source: Pick<PostgresSource, 'bin_dir'>): Promise<string> {
  const fix = 'install the PostgreSQL server (e.g. apt-get install postgresql-15) or set bin_dir to the folder holding initdb and pg_ctl';
  if (source.bin_dir !== undefined) {
    const missing = await missingTool(source.bin_dir);
    if (missing) throw new UserError(`${missing} not found in bin_dir ${source.bin_dir}: ${fix}`);
    return source.bin_dir;
  }
  const candidates: string[] = [];
  try {
    candidates.push((await run('pg_config', ['--bindir'], { timeout: 10_000 })).stdout.trim());
  } catch {
    // no pg_config: the Debian layout
  }
  try {
    const versions = (await readdir('/usr/lib/postgresql')).filter((v) => /^\d+(\.\d+)?$/.test(v)).sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((v) => `/usr/lib/postgresql/${v}/bin`));
  } catch {
    // not Debian
  }
  for (const dir of candidates) if (dir !== '' && (await missingTool(dir)) === null) return dir;
  throw new UserError(`initdb not found (pg_config --bindir, /usr/lib/postgresql/*/bin): ${fix}`);
}

/** The OS user the server runs as: null when safepoint is not root (the server runs as us). */
async function serverOwner(): Promise<{ name: string; uid: number; gid: number } | null> {
  if (process.getuid?.() !== 0) return null;
  const ids = await userIds(OS_USER);
  if (!ids) throw new UserError(`running as root, initdb needs an unprivileged OS user and there is no "${OS_USER}" user: create it (the postgresql package does) or run safepoint as another user`);
  return { name: OS_USER, ...ids };
}

function confLine(key: string, value: string): string {
  return `${key} = '${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'\n`;
}

/** The PostgreSQL user a source connects as when it names none: libpq's default (PGUSER, else the OS user). */
function sourceUser(source: PostgresSource): string {
  return source.connection.user ?? process.env.PGUSER ?? currentUser().name;
}

/**
 * Starts a sandbox server for a logical PostgreSQL source. Its `source` connects to it as the source's user (a
 * superuser there), to the same database name (which does not exist yet: the restore creates it).
 */
export async function startPostgresSandbox(source: PostgresSource, o: PostgresSandboxOptions = {}): Promise<DbSandbox<PostgresSource>> {
  const signal = o.signal;
  if (source.mode === 'physical') {
    throw new UserError(`PostgreSQL sandbox: source ${source.name} is physical; a sandbox server loads logical backups (pg_dump), a physical backup is restored into a folder of its own (restore --into)`);
  }
  signal?.throwIfAborted();
  let binDir: string;
  let owner: Awaited<ReturnType<typeof serverOwner>>;
  try {
    binDir = await postgresServerBinDir(source);
    owner = await serverOwner();
  } catch (err) {
    throw sandboxError('PostgreSQL', err, signal);
  }
  const user = sourceUser(source);
  const dir = await mkdtemp(join(tmpdir(), 'safepoint-sandbox-pg-'));
  const data = join(dir, 'data');
  const log = join(dir, 'server.log');

  /** Runs a server tool (as the owner under root) in the sandbox folder. */
  const tool = async (name: string, args: readonly string[], what: string, withSignal = true): Promise<void> => {
    const cmd = join(binDir, name);
    const [file, argv] = owner ? ['runuser', ['-u', owner.name, '--', cmd, ...args]] : [cmd, [...args]];
    await runCmd(file, argv, { what, cwd: dir, notFound: `${file} not found: install ${owner ? 'util-linux (runuser)' : 'the PostgreSQL server'}`, ...(withSignal && signal ? { signal } : {}) });
  };

  const pidFile = async (): Promise<number> => Number((await readFile(join(data, 'postmaster.pid'), 'utf8').catch(() => '')).split('\n')[0]) || 0;
  /** The postmaster seen running once the server answered: killed if pg_ctl cannot stop it. */
  let postmaster = 0;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopping ??= (async () => {
    const pid = await pidFile();
    if (pid > 0) {
      try {
        await tool('pg_ctl', ['-D', data, '-m', 'immediate', '-w', '-t', '60', 'stop'], 'pg_ctl stop', false);
      } catch {
        // already stopped (nothing to do), or pg_ctl could not stop it: the postmaster goes, its children follow
        if (postmaster > 0 && postmaster === pid) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // not running
          }
        }
      }
    }
    await rm(dir, { recursive: true, force: true });
  })());

  try {
    if (owner) await chown(dir, owner.uid, owner.gid);
    await tool('initdb', ['--data-checksums', '--no-sync', '--no-instructions', '-U', BOOTSTRAP, '-A', 'trust', '-E', 'UTF8', '--locale=C', '-D', data], 'initdb');
    const settings = Object.entries({ ...SETTINGS, unix_socket_directories: dir }).map(([k, v]) => confLine(k, v)).join('');
    await appendFile(join(data, 'postgresql.conf'), `\n# safepoint sandbox\n${settings}`);
    const port = await startOnFreePort(async (p) => {
      await rm(log, { force: true });
      await tool('pg_ctl', ['-D', data, '-l', log, '-o', `-p ${p}`, '-w', '-t', '60', 'start'], 'pg_ctl start');
    }, log);
    postmaster = await pidFile();
    const cfg: PgToolsConfig = { connection: { host: '127.0.0.1', port, user: BOOTSTRAP, database: 'postgres' }, bin_dir: (await executable(join(binDir, 'psql'))) ? binDir : source.bin_dir };
    await createRoles(cfg, user, o.roles ?? [], signal);
    const { data_directory: _unset, ...rest } = source;
    const connection = { host: '127.0.0.1', port, user, database: source.connection.database };
    return { source: { ...rest, connection, services: [], wal_archiving: false }, where: `postgres://127.0.0.1:${port}`, dir, log, stop };
  } catch (err) {
    await stop();
    throw sandboxError('PostgreSQL', err, signal);
  }
}

/**
 * Runs `start` on a free port, and again on another one when the port was taken in between (the server log says
 * so); a failure carries the server log's last error lines.
 */
async function startOnFreePort(start: (port: number) => Promise<void>, log: string): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      await start(port);
      return port;
    } catch (err) {
      const text = await readFile(log, 'utf8').catch(() => '');
      if (attempt < 3 && /could not bind|already in use/i.test(text)) continue;
      // pg_ctl itself only says "see the log": the log's errors say why
      const errors = text.split('\n').filter((l) => /\b(FATAL|PANIC|ERROR)\b/.test(l)).join('\n');
      if (err instanceof PhysicalToolError && errors !== '') throw new SafepointError(`pg_ctl start on port ${port} failed: ${errorLines(errors)}`, { cause: err });
      throw err;
    }
  }
}

/** The source's user (superuser, login) and the extra roles (no login), those that do not exist yet. */
async function createRoles(cfg: PgToolsConfig, user: string, roles: readonly string[], signal?: AbortSignal): Promise<void> {
  const existing = new Set((await psql(cfg, 'postgres', 'SELECT rolname FROM pg_catalog.pg_roles;', signal ? { signal } : {})).map((r) => r[0]));
  const sql: string[] = [];
  if (!existing.has(user)) sql.push(`CREATE ROLE ${quoteIdent(user)} LOGIN SUPERUSER;`);
  existing.add(user);
  for (const role of new Set(roles)) {
    if (!existing.has(role)) sql.push(`CREATE ROLE ${quoteIdent(role)} NOLOGIN;`);
  }
  if (sql.length > 0) await psql(cfg, 'postgres', sql.join('\n'), { what: 'psql creating roles', ...(signal ? { signal } : {}) });
}
