/**
 * A throwaway MariaDB server on a restored data directory: `mariadbd --no-defaults` on a free loopback port, its
 * socket, pid file, log and temporary files in a private temporary folder, no binlog, no replication, run as the
 * directory's owner. Used to verify a restored copy and to replay binlogs into it.
 */
import { spawn } from 'node:child_process';
import { chown, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MariadbSource } from '../../config/schema-sources.js';
import { UserError, errorMessage } from '../../util/errors.js';
import { freePort } from '../../util/net.js';
import { userName } from '../../util/user.js';
import { query, type MariadbEndpoint } from './mariadb-tools.js';

export interface Throwaway {
  /** The server as the source's user (and password) would reach it. */
  readonly endpoint: MariadbEndpoint;
  readonly version: string;
  stop(): Promise<void>;
}

/** mariadbd, from bin_dir or the usual places. */
async function serverBinary(source: MariadbSource): Promise<string> {
  for (const dir of [source.bin_dir, '/usr/sbin', '/usr/bin', '/usr/local/bin'].filter((d): d is string => d !== undefined)) {
    for (const name of ['mariadbd', 'mysqld']) {
      try {
        await stat(join(dir, name));
        return join(dir, name);
      } catch {
        // next
      }
    }
  }
  throw new UserError('mariadbd not found (in bin_dir, /usr/sbin or /usr/bin): install mariadb-server to verify restored copies');
}

export interface ThrowawayOptions {
  /** The server in the error message when it does not start; default `the restored MariaDB copy in <dir>`. */
  readonly what?: string;
  /**
   * The folder for the socket, pid file, error log (`error.log`) and temporary files; it stays the caller's, stop()
   * leaves it.
   * Default: a new private temporary folder, removed by stop().
   */
  readonly runDir?: string;
}

/** Starts the server on `dir` and waits until it answers; throws a one-line error with its log when it does not. */
export async function startThrowaway(source: MariadbSource, dir: string, o: ThrowawayOptions = {}): Promise<Throwaway> {
  const st = await stat(dir);
  const binary = await serverBinary(source); // before anything is created: nothing to clean up when it is missing
  const root = process.getuid?.() === 0;
  const run = o.runDir ?? (await mkdtemp(join(tmpdir(), 'safepoint-mariadb-')));
  const port = await freePort();
  const user = root ? ((await userName(st.uid)) ?? 'root') : null;
  if (root) await chown(run, st.uid, st.gid);
  const args = ['--no-defaults', `--datadir=${dir}`, `--port=${port}`, '--bind-address=127.0.0.1', `--socket=${join(run, 'sock')}`, `--pid-file=${join(run, 'pid')}`, `--log-error=${join(run, 'error.log')}`,
    `--tmpdir=${run}`, // $TMPDIR may not be writable by the server's user
    '--innodb-buffer-pool-size=64M', '--skip-log-bin', '--skip-slave-start', ...(user ? [`--user=${user}`] : [])];
  const child = spawn(binary, args, { stdio: 'ignore' });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const c = source.connection;
  const endpoint: MariadbEndpoint = { connection: { host: '127.0.0.1', port, database: c.database, ...(c.user !== undefined ? { user: c.user } : {}), ...(c.password_file !== undefined ? { password_file: c.password_file } : {}) }, ...(source.bin_dir !== undefined ? { bin_dir: source.bin_dir } : {}) };
  const stop = async (): Promise<void> => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      // a pending timer would keep the process alive after the server has stopped: cleared either way
      await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 120_000)))]).finally(() => clearTimeout(timer));
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    if (o.runDir === undefined) await rm(run, { recursive: true, force: true });
  };
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      const [[version = ''] = []] = await query(endpoint, 'SELECT VERSION()');
      return { endpoint, version, stop };
    } catch (err) {
      if (child.exitCode !== null || Date.now() > deadline) {
        const log = await readFile(join(run, 'error.log'), 'utf8').catch(() => '');
        const last = log.split('\n').filter((l) => /ERROR/.test(l)).slice(-2).join(' | ');
        await stop();
        throw new UserError(`${o.what ?? `the restored MariaDB copy in ${dir}`} did not start: ${last || errorMessage(err)}`, { cause: err });
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
