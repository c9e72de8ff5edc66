/** The database restore procedure through the CLI, on a SQLite source with services (mission §3.2). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { lastJson, runCli, tempDir, planSteps } from './helpers.js';
import { needService } from './services/require.js';
import { PG, dropAllLike, pgSql, postgresAvailable, testPrefix } from './services/postgres.js';
import { startCluster } from './services/pg-cluster.js';

async function project(root: string, health = 'true'): Promise<{ config: string; db: string; log: string }> {
  const db = join(root, 'app.db');
  const log = join(root, 'services.log');
  const d = new Database(db);
  d.pragma('journal_mode = WAL');
  d.exec('create table orders (id integer primary key, item text); insert into orders (item) values (\'book\'), (\'pen\');');
  d.close();
  const config = join(root, 'safepoint.yaml');
  await writeFile(
    config,
    `version: 1
project: shop
repositories:
  db: { targets: [ ${join(root, 'repo')} ] }
sources:
  - name: sessions
    type: sqlite
    repository: db
    path: ${db}
    services: [ api ]
    checks:
      - sql: "select count(*) > 0 from orders"
services:
  api:
    stop: echo stop >> ${log}
    start: echo start >> ${log}
    health: { command: "${health}", timeout: 5s }
`,
  );
  return { config, db, log };
}

test('restore of a database source: refuses to replace without --force, plans with --dry-run, then runs every step', async () => {
  const t = await tempDir();
  try {
    const p = await project(t.path);
    assert.equal((await runCli(['init', '--config', p.config, '--repo', 'db'])).code, 0);
    const b = await runCli(['backup', '--config', p.config, '--source', 'sessions', '--json']);
    assert.equal(b.code, 0, b.stderr);
    assert.deepEqual((lastJson(b.stdout).meta as { tables: Record<string, number> }).tables, { orders: 2 });
    // the data goes bad
    const d = new Database(p.db);
    d.exec("delete from orders where item = 'book'; insert into orders (item) values ('ransom')");
    d.close();

    const refused = await runCli(['restore', '--config', p.config, '--source', 'sessions']);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /^error: .*app\.db exists and the restore would replace it: add --force/);

    const dry = await runCli(['restore', '--config', p.config, '--source', 'sessions', '--dry-run', '--json']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.deepEqual(planSteps(dry.stdout).map((s) => s.status), ['not_executed', 'not_executed', 'not_executed', 'not_executed', 'not_executed']);
    await assert.rejects(readFile(p.log), 'a dry run runs nothing');

    const r = await runCli(['restore', '--config', p.config, '--source', 'sessions', '--force', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const s = planSteps(r.stdout);
    assert.deepEqual(s.map((x) => x.status), ['success', 'success', 'success', 'success', 'success']);
    assert.match(s[1]!.detail, /snapshot \w+ \(tag safety\)/);
    assert.match(s[3]!.detail, /integrity_check ok.*row counts ok.*select count/);
    assert.equal(await readFile(p.log, 'utf8'), 'stop\nstart\n');
    const after = new Database(p.db, { readonly: true });
    assert.deepEqual(after.prepare('select item from orders order by id').all(), [{ item: 'book' }, { item: 'pen' }]);
    after.close();
    // the damaged state was kept as a safety snapshot and can itself be restored
    const snaps = JSON.parse((await runCli(['snapshots', '--config', p.config, '--repo', 'db', '--json'])).stdout) as { tags: string[] }[];
    assert.deepEqual(snaps.map((x) => x.tags.includes('safety')), [false, true]);
  } finally {
    await t.cleanup();
  }
});

test('a failed step stops the plan and says how to undo; restoring --into elsewhere leaves the services alone', async () => {
  const t = await tempDir();
  try {
    const p = await project(t.path, 'exit 1');
    assert.equal((await runCli(['init', '--config', p.config, '--repo', 'db'])).code, 0);
    assert.equal((await runCli(['backup', '--config', p.config, '--source', 'sessions'])).code, 0);
    const r = await runCli(['restore', '--config', p.config, '--source', 'sessions', '--force', '--json']);
    assert.equal(r.code, 1);
    const s = planSteps(r.stdout);
    assert.deepEqual(s.map((x) => x.status), ['success', 'success', 'success', 'success', 'error']);
    assert.match(s[4]!.detail, /exit 1.*start the services by hand.*safepoint restore --source sessions --snapshot \w+ --force/);
    assert.match(r.stderr, /^error: restore of sessions stopped at step 5/m);

    const copy = join(t.path, 'copy', 'app.db');
    const into = await runCli(['restore', '--config', p.config, '--source', 'sessions', '--into', copy, '--json']);
    assert.equal(into.code, 0, into.stderr);
    assert.deepEqual(planSteps(into.stdout).map((x) => x.status), ['skipped', 'skipped', 'success', 'success', 'skipped']);
    assert.equal(await readFile(p.log, 'utf8'), 'stop\nstart\n', 'only the in-place restore touched the services');
  } finally {
    await t.cleanup();
  }
});

test('a PostgreSQL source through the CLI: backup --source, restore in place with --force keeps the replaced database', async (t) => {
  if (!needService(t, await postgresAvailable(), `PostgreSQL not reachable on ${PG.host}:${PG.port}`)) return;
  const dir = await tempDir();
  const prefix = testPrefix();
  const db = `${prefix}shop`;
  try {
    await pgSql('postgres', `CREATE DATABASE ${db}`);
    await pgSql(db, "CREATE TABLE orders (id serial primary key, item text); INSERT INTO orders (item) SELECT 'item ' || g FROM generate_series(1, 1000) g;");
    const config = join(dir.path, 'safepoint.yaml');
    await writeFile(config, `version: 1\nproject: shop\nrepositories:\n  db: { targets: [ ${join(dir.path, 'repo')} ] }\nsources:\n  - name: shop-db\n    type: postgres\n    repository: db\n    mode: logical\n    connection: { host: ${PG.host}, port: ${PG.port}, user: ${PG.user}, database: ${db} }\n    checks:\n      - sql: "select count(*) = 1000 from orders"\n`);
    assert.equal((await runCli(['init', '--config', config, '--repo', 'db'])).code, 0);
    const b = await runCli(['backup', '--config', config, '--source', 'shop-db', '--json']);
    assert.equal(b.code, 0, b.stderr);
    const incr = await runCli(['backup', '--config', config, '--source', 'shop-db', '--type', 'incr']);
    assert.equal(incr.code, 2);
    assert.match(incr.stderr, /always full .* diff and incr need mode: physical/);
    await pgSql(db, 'DELETE FROM orders WHERE id % 2 = 0');
    const r = await runCli(['restore', '--config', config, '--source', 'shop-db', '--force', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const s = planSteps(r.stdout);
    assert.deepEqual(s.map((x) => x.status), ['skipped', 'success', 'success', 'success', 'skipped']);
    assert.match(s[2]!.detail, /__before_/);
    assert.equal((await pgSql(db, 'SELECT count(*) FROM orders')).trim(), '1000');
  } finally {
    await dropAllLike(prefix);
    await dir.cleanup();
  }
});

test('a physical PostgreSQL source through the CLI: full base backup, restore --into a directory verified by a throwaway server', async (t) => {
  const cluster = await startCluster();
  if (!needService(t, cluster !== null, 'PostgreSQL server binaries (initdb, pg_ctl) not installed') || !cluster) return;
  const dir = await tempDir();
  await chmod(dir.path, 0o755); // the restored cluster runs as the postgres user, who must reach it
  try {
    await cluster.sql('postgres', 'CREATE DATABASE shop');
    await cluster.sql('shop', "CREATE TABLE orders (id serial primary key, item text); INSERT INTO orders (item) SELECT 'item ' || g FROM generate_series(1, 2000) g;");
    const config = join(dir.path, 'safepoint.yaml');
    await writeFile(config, `version: 1\nproject: shop\nrepositories:\n  db: { targets: [ ${join(dir.path, 'repo')} ] }\nsources:\n  - name: cluster\n    type: postgres\n    repository: db\n    mode: physical\n    bin_dir: ${cluster.binDir}\n    data_directory: ${cluster.dataDir}\n    connection: { host: ${cluster.host}, port: ${cluster.port}, user: ${cluster.user}, database: shop }\n    checks:\n      - sql: "select count(*) = 2000 from orders"\n`);
    assert.equal((await runCli(['init', '--config', config, '--repo', 'db'])).code, 0);
    const b = await runCli(['backup', '--config', config, '--source', 'cluster', '--json']);
    assert.equal(b.code, 0, b.stderr);
    const incr = await runCli(['backup', '--config', config, '--source', 'cluster', '--type', 'incr', '--json']);
    assert.equal(incr.code, 0, incr.stderr);
    const summary = lastJson(incr.stdout) as { snapshot_id: string; meta: { start_lsn: string } };
    assert.match(summary.meta.start_lsn, /^[0-9A-F]+\/[0-9A-F]+$/);
    assert.match((await runCli(['snapshots', '--config', config, '--repo', 'db'])).stdout, /incremental|incr/);
    const bad = await runCli(['backup', '--config', config, '--source', 'cluster', '--type', 'weekly']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--type weekly: expected full, diff or incr/);
    const pitr = await runCli(['restore', '--config', config, '--source', 'cluster', '--into', join(dir.path, 'x'), '--target-time', '2026-01-01T00:00:00Z']);
    assert.equal(pitr.code, 2);
    assert.match(pitr.stderr, /needs wal_archiving: true/);
    // the WAL commands refuse a source that does not archive, in one line
    const check = await runCli(['pg', 'check', '--config', config]);
    assert.equal(check.code, 2);
    assert.match(check.stderr, /^error: no postgres source has wal_archiving: true: set it, or pass --source NAME\n$/);
    const notArchiving = await runCli(['pg', 'check', '--config', config, '--source', 'cluster']);
    assert.equal(notArchiving.code, 1);
    assert.match(notArchiving.stderr, /does not have wal_archiving: true/);
    const notWal = await runCli(['pg', 'archive-push', '--config', config, '--source', 'cluster', config]);
    assert.equal(notWal.code, 2);
    assert.match(notWal.stderr, /is not a WAL file name/);
    const notSqlite = await runCli(['replicate', '--config', config, '--source', 'cluster']);
    assert.equal(notSqlite.code, 2);
    assert.match(notSqlite.stderr, /source cluster is a postgres source: this command works on sqlite sources/);
    await cluster.sql('shop', "INSERT INTO orders (item) VALUES ('after the backup')");
    const into = join(dir.path, 'restored');
    const r = await runCli(['restore', '--config', config, '--source', 'cluster', '--into', into, '--json']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const s = planSteps(r.stdout);
    assert.deepEqual(s.map((x) => x.status), ['skipped', 'skipped', 'success', 'success', 'skipped']);
    assert.match(s[3]!.detail, /server starts ok.*select count\(\*\) = 2000/);
  } finally {
    await cluster.stop();
    await dir.cleanup();
  }
});
