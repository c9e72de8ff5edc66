/**
 * Drills of physical database sources (issue 6): a PostgreSQL base backup replayed with its archived WAL and a
 * MariaDB physical backup, each restored into the sandbox and verified by a throwaway server on a free loopback
 * port; status measures the PostgreSQL exposure from the last archived WAL segment.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CLI, runCli, tempDir } from './helpers.js';
import { archivingClusterForTest, physicalSourceYaml } from './services/pg-cluster.js';
import { mariadbForTest } from './services/mariadb-server.js';

const exec = promisify(execFile);

test('drill of a physical PostgreSQL source: the base backup replayed with its archived WAL in the sandbox; status reads the WAL archive', async (t) => {
  const dir = await tempDir('sp-drill-phys-');
  t.after(dir.cleanup);
  await chmod(dir.path, 0o755);
  const config = join(dir.path, 'safepoint.yaml');
  const cluster = await archivingClusterForTest(t, `${process.execPath} ${CLI} --config ${config} pg archive-push %p --source shop-db`);
  if (!cluster) return;
  const c = cluster;
  t.after(() => c.stop());
  const as = c.osUser;
  const pw = join(dir.path, 'password');
  await writeFile(pw, 'drill-phys\n', { mode: 0o600 });
  await writeFile(config, `version: 1
project: shop
repositories:
  db: { targets: [ ${join(dir.path, 'repo-db')} ], password_file: ${pw} }
sources:
${physicalSourceYaml(c, { name: 'shop-db', repository: 'db', database: 'shop' })}    rpo: 1h
    rto: 10m
    checks:
      - sql: "select count(*) = 3 from markers"
`);
  const tmp = join(dir.path, 'tmp');
  await mkdir(tmp);
  await chmod(tmp, 0o1777);
  // the CLI runs as the database's OS user, as archive_command does: both write the repository
  if (as) await exec('chown', ['-R', `${as.uid}:${as.gid}`, dir.path]);
  const cli = (...args: string[]): ReturnType<typeof runCli> => runCli(['--config', config, ...args], { as, env: { SAFEPOINT_PASSWORD: undefined, TMPDIR: tmp }, cwd: dir.path });
  assert.equal((await cli('init', '--repo', 'db')).code, 0);
  await c.sql('postgres', 'CREATE DATABASE shop');
  await c.sql('shop', "CREATE TABLE markers (name text PRIMARY KEY); INSERT INTO markers VALUES ('one')");
  const b = await cli('backup', '--source', 'shop-db');
  assert.equal(b.code, 0, b.stderr);
  // committed after the base backup: only the WAL archive has these rows
  await c.sql('shop', "INSERT INTO markers VALUES ('two'), ('three')");
  const archived = await cli('pg', 'check', '--source', 'shop-db');
  assert.equal(archived.code, 0, archived.stderr);

  const st = await cli('status', '--source', 'shop-db', '--json');
  const status = JSON.parse(st.stdout.split('\n').find((l) => l.includes('"source_status"'))!) as { exposure_from: string; exposure_seconds: number };
  assert.equal(status.exposure_from, 'wal archive');
  assert.ok(status.exposure_seconds < 60);

  const d = await cli('drill', '--all', '--json');
  assert.equal(d.code, 0, d.stdout + d.stderr);
  const drills = d.stdout.split('\n').filter((l) => l.includes('"message_type":"drill"')).map((l) => JSON.parse(l) as { source: string; ok: boolean; where: string; checks: { name: string; ok: boolean }[] });
  assert.deepEqual(drills.map((x) => [x.source, x.ok]), [['shop-db', true]]);
  assert.ok(drills[0]!.where.startsWith(tmp), drills[0]!.where);
  assert.ok(drills[0]!.checks.some((x) => /count\(\*\) = 3/.test(x.name) && x.ok), 'the rows only the WAL archive had were replayed');
  assert.deepEqual(await readdir(tmp), []);
  assert.equal((await c.sql('shop', 'select count(*) from markers')).trim(), '3', 'production untouched');
});

test('drill of a physical MariaDB source: mariadb-backup restored into the sandbox, verified by a throwaway server', async (t) => {
  const maria = await mariadbForTest(t, { binlog: true });
  if (!maria) return;
  t.after(() => maria.stop());
  const dir = await tempDir('sp-drill-maria-');
  t.after(dir.cleanup);
  await chmod(dir.path, 0o755);
  const config = join(dir.path, 'safepoint.yaml');
  await writeFile(config, `version: 1
project: shop
repositories:
  db: { targets: [ ${join(dir.path, 'repo-db')} ] }
sources:
  - name: billing
    type: mariadb
    repository: db
    mode: physical
    data_directory: ${maria.dataDir}
    connection: { host: ${maria.host}, port: ${maria.port}, user: root, database: billing }
    checks:
      - sql: "select sum(total) = 60 from invoices"
`);
  const tmp = join(dir.path, 'tmp');
  await mkdir(tmp);
  await chmod(tmp, 0o1777);
  const cli = (...args: string[]): ReturnType<typeof runCli> => runCli(['--config', config, ...args], { env: { TMPDIR: tmp } });
  assert.equal((await cli('init', '--repo', 'db')).code, 0);
  await maria.sql('CREATE DATABASE billing; CREATE TABLE billing.invoices (id int primary key, total int); INSERT INTO billing.invoices VALUES (1, 10), (2, 20), (3, 30)');
  const b = await cli('backup', '--source', 'billing');
  assert.equal(b.code, 0, b.stderr);
  const d = await cli('drill', '--json');
  assert.equal(d.code, 0, d.stdout + d.stderr);
  const drill = JSON.parse(d.stdout.split('\n').find((l) => l.includes('"message_type":"drill"'))!) as { ok: boolean; where: string; checks: { name: string; ok: boolean }[] };
  assert.equal(drill.ok, true);
  assert.ok(drill.where.startsWith(tmp), drill.where);
  assert.ok(drill.checks.some((x) => /sum\(total\)/.test(x.name) && x.ok));
  assert.deepEqual(await readdir(tmp), []);
});
