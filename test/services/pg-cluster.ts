/**
 * A throwaway PostgreSQL cluster for tests that need a server of their own (physical backups read the whole
 * cluster): initdb with data checksums and trust authentication in a temporary folder, started with pg_ctl on a
 * free port, socket in the same folder, TCP on 127.0.0.1 only. initdb refuses to run as root: under root the cluster
 * belongs to the `postgres` OS user and every server tool runs as it (runuser).
 */
import { execFile } from 'node:child_process';
import { access, appendFile, chown, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../../src/util/net.js';
import type { TestContext } from 'node:test';
import { needService } from './require.js';

const run = promisify(execFile);

export interface PgCluster {
  readonly host: string;
  readonly port: number;
  /** The bootstrap superuser (trust authentication, TCP and socket). */
  readonly user: string;
  readonly dataDir: string;
  /** The folder holding the server sockets and the log. */
  readonly socketDir: string;
  readonly binDir: string;
  /** The OS user the server runs as (and owns dataDir), when the tests run as root. */
  readonly osUser: { readonly name: string; readonly uid: number; readonly gid: number } | null;
  /** Runs SQL through psql in `database`; resolves with the unaligned, tuples-only output. */
  sql(database: string, sql: string): Promise<string>;
  /** Stops the server (fast) and removes its folder. */
  stop(): Promise<void>;
}

/** Where the server binaries are: $SAFEPOINT_TEST_PG_BINDIR, `pg_config --bindir`, else /usr/lib/postgresql/<newest>/bin. */
export async function pgServerBinDir(): Promise<string | null> {
  const candidates: string[] = [];
  if (process.env.SAFEPOINT_TEST_PG_BINDIR) candidates.push(process.env.SAFEPOINT_TEST_PG_BINDIR);
  try {
    candidates.push((await run('pg_config', ['--bindir'])).stdout.trim());
  } catch {
    // no pg_config: look in the Debian layout
  }
  for (const v of ['17', '16', '15', '14', '13']) candidates.push(`/usr/lib/postgresql/${v}/bin`);
  for (const dir of candidates) {
    try {
      await access(join(dir, 'initdb'));
      await access(join(dir, 'pg_ctl'));
      return dir;
    } catch {
      // next
    }
  }
  return null;
}


async function osUser(name: string): Promise<{ name: string; uid: number; gid: number }> {
  const uid = Number((await run('id', ['-u', name])).stdout.trim());
  const gid = Number((await run('id', ['-g', name])).stdout.trim());
  return { name, uid, gid };
}

/** The command line running `cmd` as `user` (or as ourselves when user is null). */
export function asUser(user: { readonly name: string } | null, cmd: string, args: readonly string[]): [string, string[]] {
  return user ? ['runuser', ['-u', user.name, '--', cmd, ...args]] : [cmd, [...args]];
}

/** Starts a new cluster; null when the server binaries are not installed. */
export async function startCluster(o: { user?: string; conf?: string } = {}): Promise<PgCluster | null> {
  const binDir = await pgServerBinDir();
  if (!binDir) return null;
  const owner = process.getuid?.() === 0 ? await osUser(process.env.SAFEPOINT_TEST_PG_OSUSER ?? 'postgres') : null;
  const root = await mkdtemp(join(tmpdir(), 'sp-pgcluster-'));
  const dataDir = join(root, 'data');
  const socketDir = join(root, 'run');
  await mkdir(socketDir);
  if (owner) {
    await chown(root, owner.uid, owner.gid);
    await chown(socketDir, owner.uid, owner.gid);
  }
  const user = o.user ?? 'postgres';
  const port = await freePort();
  const exec = async (tool: string, args: readonly string[]): Promise<void> => {
    const [cmd, argv] = asUser(owner, join(binDir, tool), args);
    try {
      await run(cmd, argv, { cwd: root, timeout: 120_000 });
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`${tool} failed: ${(e.stderr ?? '').trim() || e.message}`);
    }
  };
  try {
    await exec('initdb', ['--data-checksums', '-U', user, '-A', 'trust', '-E', 'UTF8', '--locale=C', '-D', dataDir]);
    if (o.conf) await appendFile(join(dataDir, 'postgresql.conf'), `\n${o.conf}\n`);
    const opts = `-p ${port} -k ${socketDir} -c listen_addresses=127.0.0.1 -c wal_level=replica -c max_wal_senders=4 -c fsync=off`;
    await exec('pg_ctl', ['-D', dataDir, '-l', join(socketDir, 'server.log'), '-o', opts, '-w', '-t', '60', 'start']);
  } catch (err) {
    await rm(root, { recursive: true, force: true });
    throw err;
  }
  const env = { ...process.env, PGHOST: '127.0.0.1', PGPORT: String(port), PGUSER: user, PGCONNECT_TIMEOUT: '5' };
  let stopped = false;
  return {
    host: '127.0.0.1',
    port,
    user,
    dataDir,
    socketDir,
    binDir,
    osUser: owner,
    sql: (database, sql) =>
      new Promise((resolve, reject) => {
        const child = execFile(join(binDir, 'psql'), ['-X', '-A', '-t', '-q', '-w', '-v', 'ON_ERROR_STOP=1'], { env: { ...env, PGDATABASE: database }, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
          if (err) reject(new Error(`psql on ${database} failed: ${stderr || err.message}`));
          else resolve(stdout.trim());
        });
        child.stdin!.on('error', () => undefined); // EPIPE when psql exits first: its exit tells why
        child.stdin!.end(sql);
      }),
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        await exec('pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', '-t', '60', 'stop']);
      } finally {
        await rm(root, { recursive: true, force: true });
      }
    },
  };
}

/**
 * A throwaway cluster whose archive_command is `archiveCommand` (%p substituted by the server); null when it could
 * not be started (the test skipped with the reason, or failed under CI).
 */
export async function archivingClusterForTest(t: TestContext, archiveCommand: string): Promise<PgCluster | null> {
  let cluster: PgCluster | null = null;
  try {
    cluster = await startCluster({ conf: `archive_mode = on\narchive_command = '${archiveCommand}'\narchive_timeout = 0` });
  } catch (err) {
    if (!needService(t, false, `a throwaway PostgreSQL cluster could not be started: ${(err as Error).message}`)) return null;
  }
  if (!needService(t, cluster !== null, 'PostgreSQL server binaries (initdb, pg_ctl) are not installed')) return null;
  return cluster;
}

/** The YAML of a physical PostgreSQL source with WAL archiving on `c` (a `sources:` list item, two-space indent). */
export function physicalSourceYaml(c: PgCluster, o: { name: string; repository: string; database: string }): string {
  return `  - name: ${o.name}
    type: postgres
    repository: ${o.repository}
    mode: physical
    wal_archiving: true
    bin_dir: ${c.binDir}
    data_directory: ${c.dataDir}
    connection: { host: ${c.host}, port: ${c.port}, user: ${c.user}, database: ${o.database} }
`;
}
