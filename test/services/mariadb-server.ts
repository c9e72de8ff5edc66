/**
 * A throwaway MariaDB server for tests that need one of their own (physical backups read its data directory;
 * binlogs): mariadb-install-db in a temporary folder, mariadbd on a free loopback port, root without a password.
 * Under root the server runs as the `mysql` OS user when it exists.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chown, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TestContext } from 'node:test';
import { freePort } from '../../src/util/net.js';
import { findTool } from '../../src/db/mariadb/mariadb-tools.js';
import { needService } from './require.js';

const run = promisify(execFile);

export interface MariadbServer {
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  readonly root: string;
  readonly osUser: { readonly name: string; readonly uid: number; readonly gid: number } | null;
  /** Runs SQL with the mariadb client as root; resolves with the tab-separated rows. */
  sql(sql: string, database?: string): Promise<string>;
  /** Starts the server again on the same data directory (after stop({ keep: true })). */
  start(): Promise<void>;
  stop(o?: { keep?: boolean }): Promise<void>;
}

async function which(cmd: string): Promise<string | null> {
  try {
    return (await run('sh', ['-c', `command -v ${cmd}`])).stdout.trim() || null;
  } catch {
    return null;
  }
}

async function osUser(name: string): Promise<{ name: string; uid: number; gid: number } | null> {
  try {
    return { name, uid: Number((await run('id', ['-u', name])).stdout.trim()), gid: Number((await run('id', ['-g', name])).stdout.trim()) };
  } catch {
    return null;
  }
}

/** Starts a new server; null when mariadbd / mariadb-install-db are not installed. */
export async function startMariadb(o: { binlog?: boolean } = {}): Promise<MariadbServer | null> {
  const installDb = (await which('mariadb-install-db')) ?? (await which('mysql_install_db'));
  const mariadbd = (await which('mariadbd')) ?? ((await which('/usr/sbin/mariadbd')) ? '/usr/sbin/mariadbd' : null);
  if (!installDb || !mariadbd) return null;
  const owner = process.getuid?.() === 0 ? await osUser('mysql') : null;
  const root = await mkdtemp(join(tmpdir(), 'sp-mariadb-'));
  const dataDir = join(root, 'data');
  await mkdir(dataDir);
  if (owner) {
    await chown(root, owner.uid, owner.gid);
    await chown(dataDir, owner.uid, owner.gid);
  }
  const user = owner ? owner.name : process.getuid?.() === 0 ? 'root' : undefined;
  try {
    await run(installDb, ['--no-defaults', `--datadir=${dataDir}`, ...(user ? [`--user=${user}`] : []), '--auth-root-authentication-method=normal', '--skip-test-db'], { timeout: 120_000 });
  } catch (err) {
    await rm(root, { recursive: true, force: true });
    throw new Error(`mariadb-install-db failed: ${(err as { stderr?: string }).stderr ?? (err as Error).message}`);
  }
  const port = await freePort();
  let child: ChildProcess | null = null;
  const args = ['--no-defaults', `--datadir=${dataDir}`, `--port=${port}`, '--bind-address=127.0.0.1', `--socket=${join(root, 'mysqld.sock')}`, `--pid-file=${join(root, 'mysqld.pid')}`,
    `--log-error=${join(root, 'error.log')}`, '--innodb-buffer-pool-size=32M', '--innodb-log-file-size=48M', ...(user ? [`--user=${user}`] : []),
    ...(o.binlog ? [`--log-bin=${join(dataDir, 'binlog')}`, '--server-id=1', '--binlog-format=ROW'] : [])];
  const sql = async (text: string, database?: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const c = execFile('mariadb', ['--no-defaults', '-h', '127.0.0.1', '-P', String(port), '--protocol=TCP', '-uroot', '--batch', '--skip-column-names', ...(database ? [database] : [])], { maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`mariadb failed: ${stderr || err.message}`));
        else resolve(stdout.trim());
      });
      c.stdin!.on('error', () => undefined); // EPIPE when the client exits first (server gone): its exit tells why
      c.stdin!.end(text);
    });
  const start = async (): Promise<void> => {
    child = spawn(mariadbd, args, { stdio: 'ignore' });
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        await sql('SELECT 1');
        return;
      } catch (err) {
        if (child.exitCode !== null || Date.now() > deadline) throw new Error(`mariadbd did not start: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  };
  const stop = async (so: { keep?: boolean } = {}): Promise<void> => {
    const c = child as ChildProcess | null;
    if (c && c.exitCode === null) {
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      await exited;
    }
    child = null;
    if (!so.keep) await rm(root, { recursive: true, force: true });
  };
  try {
    await start();
  } catch (err) {
    await stop();
    throw err;
  }
  return { host: '127.0.0.1', port, dataDir, root, osUser: owner, sql, start, stop };
}

/**
 * A throwaway server for a test that needs mariadb-backup too; null (the test skipped with the reason, or failed
 * under CI) when something is not installed.
 */
export async function mariadbForTest(t: TestContext, o: { binlog?: boolean } = {}): Promise<MariadbServer | null> {
  try {
    await findTool('backup');
  } catch (err) {
    if (!needService(t, false, (err as Error).message)) return null;
  }
  let server: MariadbServer | null = null;
  try {
    server = await startMariadb(o);
  } catch (err) {
    if (!needService(t, false, `a throwaway MariaDB server could not be started: ${(err as Error).message}`)) return null;
  }
  if (!needService(t, server !== null, 'mariadbd / mariadb-install-db are not installed')) return null;
  return server;
}
