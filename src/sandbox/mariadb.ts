/**
 * A throwaway MariaDB server for restore drills: mariadb-install-db (no option files, no test database, root
 * without a password) in a new temporary folder, then mariadbd on a free port of 127.0.0.1 only (the server of
 * src/db/mariadb/throwaway-server.ts), the source's user created there with every privilege. Under root the server
 * runs as the `mysql` OS user when there is one.
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, chown, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import type { MariadbSource } from '../config/schema-sources.js';
import { ident, lastLines, query } from '../db/mariadb/mariadb-tools.js';
import { startThrowaway, type Throwaway } from '../db/mariadb/throwaway-server.js';
import { SafepointError, UserError, errorMessage } from '../util/errors.js';
import { currentUser, userIds } from '../util/user.js';
import { sandboxError, type DbSandbox, type SandboxOptions } from './index.js';

const run = promisify(execFile);

const INSTALL_DB = ['mariadb-install-db', 'mysql_install_db'] as const;
/** The OS user owning the data when safepoint runs as root (mariadbd runs as root only when there is none). */
const OS_USER = 'mysql';

/** mariadb-install-db: in bin_dir when the source sets it (and only there), else on PATH or in /usr/bin. */
export async function installDbTool(source: Pick<MariadbSource, 'bin_dir'>): Promise<string> {
  const dirs = source.bin_dir !== undefined ? [source.bin_dir] : [...(process.env.PATH ?? '').split(delimiter).filter((d) => d !== ''), '/usr/bin', '/usr/local/bin'];
  for (const name of INSTALL_DB) {
    for (const dir of dirs) {
      try {
        await access(join(dir, name), constants.X_OK);
        return join(dir, name);
      } catch {
        // next
      }
    }
  }
  const where = source.bin_dir !== undefined ? `bin_dir ${source.bin_dir}` : 'PATH or /usr/bin';
  throw new UserError(`mariadb-install-db not found in ${where}: install the MariaDB server (apt-get install mariadb-server) or set bin_dir to the folder holding mariadb-install-db`);
}

/** The user a source connects as when it names none: the client's default, the OS login name. */
function sourceUser(source: MariadbSource): string {
  return source.connection.user ?? currentUser().name;
}

/**
 * Starts a sandbox server for a logical MariaDB source. Its `source` connects to it over TCP as the source's user
 * (every privilege, no password), to the same database name (which does not exist yet: the restore creates it).
 */
export async function startMariadbSandbox(source: MariadbSource, o: SandboxOptions = {}): Promise<DbSandbox<MariadbSource>> {
  const signal = o.signal;
  if (source.mode === 'physical') {
    throw new UserError(`MariaDB sandbox: source ${source.name} is physical; a sandbox server loads logical backups (mariadb-dump), a physical backup is restored into a folder of its own (restore --into)`);
  }
  signal?.throwIfAborted();
  let installDb: string;
  let owner: { uid: number; gid: number } | null = null;
  try {
    installDb = await installDbTool(source);
    if (process.getuid?.() === 0) owner = await userIds(OS_USER);
  } catch (err) {
    throw sandboxError('MariaDB', err, signal);
  }
  const user = sourceUser(source);
  const dir = await mkdtemp(join(tmpdir(), 'safepoint-sandbox-mariadb-'));
  const data = join(dir, 'data');
  const runDir = join(dir, 'run');
  const tmp = join(dir, 'tmp');
  let server: Throwaway | null = null;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopping ??= (async () => {
    await server?.stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  })());

  try {
    for (const d of [data, runDir, tmp]) await mkdir(d);
    if (owner) for (const d of [dir, data, runDir, tmp]) await chown(d, owner.uid, owner.gid);
    const osUser = owner ? OS_USER : process.getuid?.() === 0 ? 'root' : null;
    const args = ['--no-defaults', `--datadir=${data}`, ...(osUser ? [`--user=${osUser}`] : []), '--auth-root-authentication-method=normal', '--skip-test-db'];
    try {
      // the bootstrap server's temporary files go to $TMPDIR, which the mysql user may not be able to write to
      await run(installDb, args, { cwd: dir, env: { ...process.env, TMPDIR: tmp }, timeout: 300_000, maxBuffer: 16 << 20, ...(signal ? { signal } : {}) });
    } catch (err) {
      signal?.throwIfAborted();
      const e = err as { stderr?: string; stdout?: string };
      throw new SafepointError(`mariadb-install-db failed: ${lastLines(e.stderr || e.stdout || '') || errorMessage(err)}`, { cause: err });
    }
    signal?.throwIfAborted();
    const rootSource: MariadbSource = { ...source, connection: { host: '127.0.0.1', port: 3306, user: 'root', database: source.connection.database } };
    server = await startThrowaway(rootSource, data, { what: 'mariadbd', runDir });
    signal?.throwIfAborted();
    if (user !== 'root') {
      // '%' and 'localhost' alike: an anonymous ''@'localhost' would otherwise win over '%' for local clients
      const accounts = [`${ident(user)}@'%'`, `${ident(user)}@'localhost'`];
      await query(server.endpoint, accounts.map((a) => `CREATE USER IF NOT EXISTS ${a};\nGRANT ALL PRIVILEGES ON *.* TO ${a} WITH GRANT OPTION;`).join('\n'), { signal });
    }
    const port = server.endpoint.connection.port;
    const { data_directory: _unset, ...rest } = source;
    const connection = { host: '127.0.0.1', port, user, database: source.connection.database };
    return { source: { ...rest, connection, services: [] }, where: `mariadb://127.0.0.1:${port}`, dir, log: join(runDir, 'error.log'), stop };
  } catch (err) {
    await stop();
    throw sandboxError('MariaDB', err, signal);
  }
}
