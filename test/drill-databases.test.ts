/**
 * Drills of logical PostgreSQL and MariaDB sources (issue 6): the dump is loaded into a throwaway server on a free
 * loopback port, verified (integrity, row counts, SQL checks), and the user's command checks reach it through
 * PGHOST/PGPORT; the production server gains no database and its data is untouched.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runCli, tempDir } from './helpers.js';
import { needService } from './services/require.js';
import { PG, databasesLike, dropAllLike, pgSql, postgresAvailable, testPrefix } from './services/postgres.js';

const run = promisify(execFile);
const maria = async (sql: string): Promise<string> => (await run('mariadb', ['-h', '127.0.0.1', '-P', '3306', '-u', 'root', '-N', '-B', '-e', sql])).stdout.trim();
const mariadbAvailable = async (): Promise<boolean> => maria('select 1').then(() => true, () => false);

test('drill of logical PostgreSQL and MariaDB sources: throwaway servers, checks against them, production untouched', async (t) => {
  if (!needService(t, await postgresAvailable(), `no PostgreSQL on ${PG.host}:${PG.port}`)) return;
  if (!needService(t, await mariadbAvailable(), 'no MariaDB on 127.0.0.1:3306 as root')) return;
  const prefix = testPrefix();
  const dir = await tempDir();
  try {
    await pgSql('postgres', `create database ${prefix}_shop`);
    await pgSql(`${prefix}_shop`, 'create table orders (id serial primary key, item text); insert into orders (item) select \'item \' || g from generate_series(1, 500) g;');
    await maria(`create database ${prefix}_billing; create table ${prefix}_billing.invoices (id int primary key, total int); insert into ${prefix}_billing.invoices values (1, 10), (2, 20), (3, 30);`);
    const config = join(dir.path, 'safepoint.yaml');
    await writeFile(config, `version: 1
project: shop
repositories:
  db: { targets: [ ${join(dir.path, 'repo')} ] }
sources:
  - name: shop-db
    type: postgres
    repository: db
    connection: { host: ${PG.host}, port: ${PG.port}, user: ${PG.user}, database: ${prefix}_shop }
    rto: 10m
    checks:
      - sql: "select count(*) = 500 from orders"
      - command: test "$(psql -X -A -t -c 'select max(id) from orders')" = 500 && test "$PGPORT" != ${PG.port}
  - name: billing-db
    type: mariadb
    repository: db
    connection: { host: 127.0.0.1, port: 3306, user: root, database: ${prefix}_billing }
    checks:
      - sql: "select sum(total) = 60 from invoices"
`);
    // the sandbox servers run as the postgres / mysql OS users: their folders' parents must be reachable
    const tmp = join(dir.path, 'tmp');
    await mkdir(tmp);
    await chmod(dir.path, 0o711);
    await chmod(tmp, 0o1777);
    const cli = (args: string[]): ReturnType<typeof runCli> => runCli([...args, '--config', config], { env: { TMPDIR: tmp } });
    assert.equal((await cli(['init', '--repo', 'db'])).code, 0);
    for (const s of ['shop-db', 'billing-db']) {
      const b = await cli(['backup', '--source', s]);
      assert.equal(b.code, 0, b.stderr);
    }
    const pgBefore = await databasesLike(prefix);
    const mariaBefore = await maria(`select schema_name from information_schema.schemata where schema_name like '${prefix}%'`);

    const d = await cli(['drill', '--all', '--json']);
    assert.equal(d.code, 0, d.stdout + d.stderr);
    const drills = d.stdout.split('\n').filter((l) => l.includes('"message_type":"drill"')).map((l) => JSON.parse(l) as { source: string; ok: boolean; where: string; checks: { name: string; ok: boolean }[]; rto_seconds: number });
    assert.deepEqual(drills.map((x) => [x.source, x.ok]), [['shop-db', true], ['billing-db', true]]);
    assert.match(drills[0]!.where, /^postgres:\/\/127\.0\.0\.1:\d+/);
    assert.doesNotMatch(drills[0]!.where, new RegExp(`:${PG.port}\\b`));
    assert.match(drills[1]!.where, /^mariadb:\/\/127\.0\.0\.1:\d+/);
    assert.ok(drills[0]!.checks.some((c) => /^test /.test(c.name) && c.ok), 'the command check reached the sandbox through PGHOST/PGPORT');
    assert.ok(drills[1]!.checks.some((c) => /sum\(total\)/.test(c.name) && c.ok));
    assert.deepEqual(await databasesLike(prefix), pgBefore, 'no database appeared on the production server');
    assert.equal(await maria(`select schema_name from information_schema.schemata where schema_name like '${prefix}%'`), mariaBefore);
    assert.equal(await pgSql(`${prefix}_shop`, 'select count(*) from orders'), '500');
    assert.deepEqual(await readdir(tmp), [], 'the sandboxes are gone');
  } finally {
    await dropAllLike(prefix).catch(() => undefined);
    await maria(`drop database if exists ${prefix}_billing`).catch(() => undefined);
    await dir.cleanup();
  }
});
