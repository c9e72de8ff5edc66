/**
 * A code-only restore point (what the git hooks and deploys make) on a project with a PostgreSQL cluster archiving
 * its WAL and a MariaDB server writing binlogs: the tag records a PostgreSQL named restore point and the MariaDB
 * binlog position, and the named restore point brings the data back to the moment of the tag.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, chown, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parsePoint } from '../src/git/restore-point.js';
import { CLI, runCli, tempDir } from './helpers.js';
import { mariadbForTest } from './services/mariadb-server.js';
import { archivingClusterForTest, asUser, physicalSourceYaml } from './services/pg-cluster.js';
import { freePort } from '../src/util/net.js';

const exec = promisify(execFile);

test('a code-only point records a PostgreSQL named restore point and the MariaDB binlog position; the named point restores the data of that moment', async (t) => {
  const maria = await mariadbForTest(t, { binlog: true });
  if (!maria) return;
  t.after(() => maria.stop());
  const dir = await tempDir('sp-point-db-');
  t.after(dir.cleanup);
  await chmod(dir.path, 0o755);
  const config = join(dir.path, 'shop', 'safepoint.yaml');
  const archive = `${process.execPath} ${CLI} --config ${config} pg archive-push %p --source shop-db`;
  const cluster = await archivingClusterForTest(t, archive);
  if (!cluster) return;
  const c = cluster;
  t.after(() => c.stop());
  const as = c.osUser;

  // the project: a git repository owned by the database's OS user (hooks and archive_command run as it)
  const project = join(dir.path, 'shop');
  const pw = join(dir.path, 'password');
  await writeFile(pw, 'point-db\n', { mode: 0o600 });
  const git = async (...args: string[]): Promise<string> => {
    const [cmd, argv] = asUser(as, 'git', ['-C', project, ...args]);
    return (await exec(cmd, argv, { env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@x', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@x' } })).stdout;
  };
  const { mkdir } = await import('node:fs/promises');
  await mkdir(join(project, 'config'), { recursive: true });
  await writeFile(join(project, 'config', 'app.yaml'), 'port: 8080\n');
  await writeFile(config, `version: 1
project: shop
repositories:
  files: { targets: [ ${join(dir.path, 'repo-files')} ], password_file: ${pw} }
  db: { targets: [ ${join(dir.path, 'repo-db')} ], password_file: ${pw} }
sources:
  - { name: code-config, type: files, repository: files, paths: [ config ], schedule: on-major-commit }
${physicalSourceYaml(c, { name: 'shop-db', repository: 'db', database: 'shop' })}  - { name: billing, type: mariadb, repository: db, mode: logical, connection: { host: ${maria.host}, port: ${maria.port}, user: root, database: billing } }
`);
  if (as) {
    await exec('chown', ['-R', `${as.uid}:${as.gid}`, dir.path]);
    await chown(pw, as.uid, as.gid);
  }
  await git('init', '-q', '-b', 'main');
  await git('add', '-A');
  await git('commit', '-q', '-m', 'first');
  const cli = (...args: string[]): ReturnType<typeof runCli> => runCli(['--config', config, ...args], { as, env: { SAFEPOINT_PASSWORD: undefined }, cwd: dir.path });
  for (const r of ['files', 'db']) assert.equal((await cli('init', '--repo', r)).code, 0);

  await c.sql('postgres', 'CREATE DATABASE shop');
  await c.sql('shop', 'CREATE TABLE markers (name text PRIMARY KEY)');
  await maria.sql('CREATE DATABASE billing');
  const base = await cli('backup', '--source', 'shop-db');
  assert.equal(base.code, 0, base.stderr);
  await c.sql('shop', "INSERT INTO markers VALUES ('before the point')");
  await maria.sql('CREATE TABLE billing.t (id int); INSERT INTO billing.t VALUES (1)');

  const binlogAtPoint = (await maria.sql('SHOW MASTER STATUS')).trim().split('\t').slice(0, 2).join(':');
  const dbSnapshots = (await cli('snapshots', '--repo', 'db', '--json')).stdout;
  const made = await cli('point', 'create', '--code-only', '--label', 'release', '--json');
  assert.equal(made.code, 0, made.stderr + made.stdout);
  await c.sql('shop', "INSERT INTO markers VALUES ('after the point')");
  await c.sql('shop', 'SELECT pg_switch_wal()');

  const [name] = (await git('tag', '-l', 'restore-point/*')).split('\n').filter(Boolean);
  assert.ok(name);
  const point = parsePoint(name, await git('tag', '-l', '--format=%(contents)', name));
  assert.ok(point);
  assert.deepEqual(point.snapshots.map((s) => s.source), ['code-config'], 'code-only: the databases are not backed up');
  const pg = point.databases.find((d) => d.source === 'shop-db');
  assert.match(pg?.position.restore_point ?? '', /^safepoint-point-\d{8}T\d{6}Z$/);
  assert.match(pg?.position.lsn ?? '', /^[0-9A-F]+\/[0-9A-F]+$/);
  const billing = point.databases.find((d) => d.source === 'billing');
  assert.equal(billing?.position.binlog, binlogAtPoint, 'the binlog position when the point was made');
  await maria.sql('INSERT INTO billing.t VALUES (2)');
  assert.notEqual((await maria.sql('SHOW MASTER STATUS')).trim().split('\t').slice(0, 2).join(':'), binlogAtPoint);
  assert.equal((await cli('snapshots', '--repo', 'db', '--json')).stdout, dbSnapshots, 'code-only: no database backup was taken');

  // the named restore point: the data as it was when the tag was made
  const pgCheck = await cli('pg', 'check', '--source', 'shop-db');
  assert.equal(pgCheck.code, 0, pgCheck.stderr);
  const copy = join(dir.path, 'copy');
  const copyPort = await freePort();
  const r = await cli('restore', '--source', 'shop-db', '--target-name', pg!.position.restore_point!, '--into', copy, '--port', String(copyPort), '--start');
  assert.equal(r.code, 0, r.stderr + r.stdout);
  try {
    const [cmd, argv] = asUser(as, join(c.binDir, 'psql'), ['-XAtw', '-h', '127.0.0.1', '-p', String(copyPort), '-U', c.user, '-d', 'shop', '-c', 'SELECT string_agg(name, \',\' ORDER BY name) FROM markers']);
    assert.equal((await exec(cmd, argv)).stdout.trim(), 'before the point');
  } finally {
    const [cmd, argv] = asUser(as, join(c.binDir, 'pg_ctl'), ['-D', copy, '-m', 'fast', '-w', 'stop']);
    await exec(cmd, argv).catch(() => undefined);
  }
});
