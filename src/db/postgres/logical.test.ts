import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fastRepository } from '../../repo/testing.js';
import { loadSnapshots } from '../../repo/snapshot.js';
import type { Repository } from '../../repo/repository.js';
import { listStreams, readStream } from '../../snapshot/stream-backup.js';
import { Secret } from '../../util/secret.js';
import { needService } from '../../../test/services/require.js';
import { PG, databasesLike, dropAllLike, ident, pgEnv, pgSchema, pgSource, pgSql, postgresAvailable, testPrefix, toolOnPath } from '../../../test/services/postgres.js';
import { postgresLogicalDriver as driver, type PostgresLogicalMeta } from './logical.js';

const SCHEMA = (db: string, owner: string): string => `
CREATE ROLE ${ident(owner)} NOLOGIN;
CREATE SCHEMA app AUTHORIZATION ${ident(owner)};
CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, email text NOT NULL);
CREATE UNIQUE INDEX customers_email ON customers (lower(email));
CREATE TABLE app.orders (id bigserial PRIMARY KEY, customer_id int NOT NULL REFERENCES customers (id), amount numeric(10, 2) NOT NULL, created timestamptz NOT NULL);
CREATE INDEX orders_customer ON app.orders (customer_id, created);
ALTER TABLE app.orders OWNER TO ${ident(owner)};
CREATE TABLE "Odd ""name""" (k text PRIMARY KEY, v jsonb);
INSERT INTO customers (name, email) SELECT 'c' || g, 'c' || g || '@example.com' FROM generate_series(1, 200) g;
INSERT INTO app.orders (customer_id, amount, created) SELECT 1 + g % 200, (g % 1000) / 10.0, timestamptz '2024-01-01' + g * interval '1 minute' FROM generate_series(1, 5000) g;
INSERT INTO "Odd ""name""" VALUES ('a', '{"x": 1}'), ('b''s', '[]');
CREATE VIEW app.order_totals AS SELECT customer_id, sum(amount) AS total, count(*) AS n FROM app.orders GROUP BY customer_id;
CREATE FUNCTION app.total_for(c int) RETURNS numeric LANGUAGE sql STABLE AS $$ SELECT coalesce(sum(amount), 0) FROM app.orders WHERE customer_id = c $$;
GRANT SELECT ON app.order_totals TO ${ident(owner)};
ALTER DATABASE ${ident(db)} OWNER TO ${ident(owner)};
ALTER DATABASE ${ident(db)} SET search_path = app, public;
ALTER DATABASE ${ident(db)} SET work_mem = '8MB';
`;

async function all(it: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const b of it) out.push(b);
  return out;
}

/** A digest of every row of the test tables, to compare databases' data. */
async function fingerprint(db: string): Promise<string> {
  return pgSql(db, `SELECT (SELECT md5(string_agg(t::text, '|' ORDER BY t.id)) FROM public.customers t) || ' ' ||
  (SELECT md5(string_agg(t::text, '|' ORDER BY t.id)) FROM app.orders t) || ' ' ||
  (SELECT md5(string_agg(t::text, '|' ORDER BY t.k)) FROM public."Odd ""name""" t);`);
}

async function withRepo(t: TestContext, fn: (repo: Repository, prefix: string) => Promise<void>): Promise<void> {
  if (!needService(t, await postgresAvailable(), `PostgreSQL on ${PG.host}:${PG.port} (user ${PG.user}, trust authentication) is not reachable`)) return;
  const prefix = testPrefix();
  const dir = await mkdtemp(join(tmpdir(), 'sp-pg-'));
  const repo = await fastRepository(join(dir, 'repo'), new Secret('pw'));
  try {
    await fn(repo, prefix);
  } finally {
    await repo.close();
    await rm(dir, { recursive: true, force: true });
    await dropAllLike(prefix);
  }
}

async function createDb(name: string, owner: string): Promise<void> {
  await pgSql('postgres', `CREATE DATABASE ${ident(name)};`);
  await pgSql(name, SCHEMA(name, owner));
}

test('backup, restore into a new database, verify, then restore in place keeping the old one', async (t) => {
  await withRepo(t, async (repo, prefix) => {
    const db = prefix;
    await createDb(db, `${prefix}_owner`);
    const source = pgSource(db, { tags: ['nightly'], checks: [{ sql: 'SELECT count(*) > 0 FROM app.order_totals' }, { command: 'true' }] });
    assert.equal(driver.describe(source), `postgres://${PG.host}:${PG.port}/${db}`);
    assert.equal(await driver.exists(source, {}), true);
    assert.equal(await driver.exists(source, { into: `${prefix}_copy` }), false);
    const before = await fingerprint(db);

    const { snapshotId, snapshot } = await driver.backup(repo, source, { tags: ['manual'] });
    assert.match(snapshotId, /^[0-9a-f]{64}$/);
    assert.equal(snapshot.source, 'pg');
    assert.deepEqual(snapshot.tags, ['nightly', 'manual']);
    assert.deepEqual(snapshot.paths, [`postgres://${PG.host}:${PG.port}/${db}`]);
    const meta = snapshot.meta as unknown as PostgresLogicalMeta;
    assert.equal(meta.kind, 'postgres');
    assert.equal(meta.mode, 'logical');
    assert.equal(meta.database, db);
    assert.match(meta.server_version, /^\d+\.\d+/);
    assert.deepEqual(meta.tables, { 'app.orders': 5000, 'public.Odd "name"': 2, 'public.customers': 200 });
    assert.equal(meta.database_options.owner, `${prefix}_owner`);
    assert.deepEqual([...meta.database_options.settings].sort(), ['search_path=app, public', 'work_mem=8MB']);
    assert.deepEqual(meta.warnings, []);
    const streams = await listStreams(repo, snapshot);
    assert.deepEqual(streams.map((s) => s.name), ['globals.sql', `${db}.pgdump`]);
    const globals = Buffer.concat(await all(readStream(repo, snapshot, 'globals.sql'))).toString();
    assert.match(globals, new RegExp(`CREATE ROLE ${prefix}_owner;`));
    assert.doesNotMatch(globals, /PASSWORD '/);
    const head = Buffer.concat(await all(readStream(repo, snapshot, `${db}.pgdump`))).subarray(0, 5).toString();
    assert.equal(head, 'PGDMP');

    // the database moves on after the backup
    await pgSql(db, `DELETE FROM app.orders WHERE id % 7 = 0; UPDATE public.customers SET name = 'changed' WHERE id < 10; INSERT INTO public."Odd ""name""" VALUES ('new', 'null');`);
    const after = await fingerprint(db);
    assert.notEqual(after, before);

    // into a new database: same schema, the data as it was at backup time
    const copy = `${prefix}_copy`;
    const restored = await driver.restore(repo, snapshot, source, { into: copy }, {});
    assert.equal(restored.target, `postgres://${PG.host}:${PG.port}/${copy}`);
    assert.equal(restored.previous, undefined);
    assert.ok(restored.bytes > 100_000);
    assert.equal(await pgSchema(copy), await pgSchema(db));
    assert.equal(await fingerprint(copy), before);
    assert.equal(await pgSql(copy, 'SELECT total_for(3) = (SELECT sum(amount) FROM app.orders WHERE customer_id = 3), (SELECT n FROM order_totals WHERE customer_id = 3);'), 't|25');
    assert.equal(await pgSql('postgres', `SELECT pg_get_userbyid(datdba), pg_encoding_to_char(encoding) FROM pg_database WHERE datname = '${copy}';`), `${prefix}_owner|UTF8`);
    assert.equal(await pgSql('postgres', `SELECT array_to_string(setconfig, ';') FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE datname = '${copy}';`).then((s) => s.split(';').sort().join(';')), 'search_path=app, public;work_mem=8MB');

    const checks = await driver.verify(source, snapshot, { into: copy });
    assert.deepEqual(checks.map((c) => [c.name, c.ok]), [['server answers', true], ['amcheck', true], ['row counts', true], ['sql: SELECT count(*) > 0 FROM app.order_totals', true]]);
    assert.match(checks[1]!.detail, /^5 btree indexes of user tables and \d+ of the system catalogs checked/);
    assert.equal(await pgSql(copy, "SELECT count(*) FROM pg_extension WHERE extname = 'amcheck';"), '0', 'verify leaves no extension behind');

    // verify catches a table that lost rows, and a failing SQL check
    await pgSql(copy, 'DELETE FROM app.orders WHERE id <= 10;');
    const bad = await driver.verify(pgSource(db, { checks: [{ sql: 'SELECT count(*) > 9999 FROM app.orders' }] }), snapshot, { into: copy });
    const counts = bad.find((c) => c.name === 'row counts')!;
    assert.equal(counts.ok, false);
    assert.match(counts.detail, /app\.orders has 4990 rows, expected 5000/);
    assert.deepEqual(bad.map((c) => c.ok), [true, true, false, false]);

    // in place: restored next to it, swapped in by renaming; the old database is kept, untouched
    const sessionHolder = spawn('psql', ['-X', '-q', '-c', 'SELECT pg_sleep(60)'], { env: pgEnv(db), stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 300));
      const replaced = await driver.restore(repo, snapshot, source, {}, {});
      assert.equal(replaced.target, `postgres://${PG.host}:${PG.port}/${db}`);
      assert.match(replaced.previous ?? '', new RegExp(`^${db}__before_\\d{8}_\\d{6}$`));
      assert.ok(replaced.notes.some((n) => n.includes(replaced.previous!)), replaced.notes.join('\n'));
      assert.equal(await fingerprint(db), before);
      assert.equal(await fingerprint(replaced.previous!), after);
      assert.equal(await pgSql('postgres', `SELECT datallowconn FROM pg_database WHERE datname = '${replaced.previous}';`), 't');
      assert.deepEqual((await databasesLike(prefix)).filter((d) => d.includes('__restore_')), []);
      assert.ok((await driver.verify(source, snapshot, {})).every((c) => c.ok));
    } finally {
      sessionHolder.kill();
    }
  });
});

test('row counts describe exactly the rows in the dump while the database is being written to', async (t) => {
  await withRepo(t, async (repo, prefix) => {
    const db = prefix;
    await pgSql('postgres', `CREATE DATABASE ${ident(db)};`);
    await pgSql(db, `CREATE TABLE events (id bigserial PRIMARY KEY, payload text);
CREATE TABLE stop (flag int);
INSERT INTO events (payload) SELECT repeat(md5(g::text), 4) FROM generate_series(1, 100000) g;`);
    // a writer committing one row at a time until told to stop
    const writer = spawn('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', `DO $$ BEGIN WHILE NOT EXISTS (SELECT 1 FROM stop) LOOP
  INSERT INTO events (payload) VALUES ('w'); COMMIT; PERFORM pg_sleep(0.0005); END LOOP; END $$;`], { env: pgEnv(db), stdio: 'ignore' });
    const exited = new Promise((r) => writer.once('close', r));
    try {
      while (Number(await pgSql(db, 'SELECT count(*) FROM events;')) < 100_100) await new Promise((r) => setTimeout(r, 20));
      const source = pgSource(db);
      const { snapshot } = await driver.backup(repo, source, {});
      await pgSql(db, 'INSERT INTO stop VALUES (1);');
      await exited;
      const recorded = (snapshot.meta as unknown as PostgresLogicalMeta).tables['public.events']!;
      const final = Number(await pgSql(db, 'SELECT count(*) FROM events;'));
      assert.ok(recorded > 100_100 && recorded < final, `recorded ${recorded}, final ${final}`);
      await driver.restore(repo, snapshot, source, { into: `${prefix}_copy` }, {});
      assert.equal(Number(await pgSql(`${prefix}_copy`, 'SELECT count(*) FROM events;')), recorded);
      assert.ok((await driver.verify(source, snapshot, { into: `${prefix}_copy` })).every((c) => c.ok));
    } finally {
      await pgSql(db, 'INSERT INTO stop VALUES (1);').catch(() => undefined);
      writer.kill();
    }
  });
});

test('a dump that fails records no snapshot and says why on one line', async (t) => {
  await withRepo(t, async (repo, prefix) => {
    // the database does not exist
    const missing = pgSource(`${prefix}_missing`);
    const err = await driver.backup(repo, missing, {}).then(() => assert.fail('backup succeeded'), (e: unknown) => e as Error);
    assert.match(err.message, new RegExp(`database "${prefix}_missing" does not exist`));
    assert.doesNotMatch(err.message, /\n/);
    assert.equal((await loadSnapshots(repo)).length, 0);

    // pg_dump writes megabytes, then fails: the stream throws at its end and nothing is recorded
    const db = prefix;
    await pgSql('postgres', `CREATE DATABASE ${ident(db)};`);
    const bin = await mkdtemp(join(tmpdir(), 'sp-pg-bin-'));
    try {
      for (const tool of ['psql', 'pg_dumpall', 'pg_restore']) await symlink(await toolOnPath(tool), join(bin, tool));
      await writeFile(join(bin, 'pg_dump'), `#!/bin/sh
case "$1" in --version) echo "pg_dump (PostgreSQL) 15"; exit 0;; esac
head -c 3000000 /dev/urandom
echo "pg_dump: error: Dumping the contents of table \\"t\\" failed: PQgetResult() failed." >&2
echo "pg_dump: detail: Error message from server: ERROR:  simulated" >&2
echo "pg_dump: detail: Command was: COPY public.t (id) TO stdout;" >&2
exit 1
`);
      await chmod(join(bin, 'pg_dump'), 0o755);
      const failing = pgSource(db, { bin_dir: bin });
      const e2 = await driver.backup(repo, failing, {}).then(() => assert.fail('backup succeeded'), (e: unknown) => e as Error);
      assert.match(e2.message, new RegExp(`^pg_dump of database "${db}" failed \\(exit code 1\\): .*simulated`));
      assert.doesNotMatch(e2.message, /\n/);
      assert.equal((await loadSnapshots(repo)).length, 0);

      // a tool that is not there
      const e3 = await driver.backup(repo, pgSource(db, { bin_dir: join(bin, 'nowhere') }), {}).then(() => assert.fail('backup succeeded'), (e: unknown) => e as Error);
      assert.match(e3.message, /pg_dump not found in bin_dir .*nowhere: install the PostgreSQL client tools/);
    } finally {
      await rm(bin, { recursive: true, force: true });
    }
  });
});

test('a failed pg_restore leaves the live database as it was and no half-restored database behind', async (t) => {
  await withRepo(t, async (repo, prefix) => {
    const db = prefix;
    await createDb(db, `${prefix}_owner`);
    const source = pgSource(db);
    const { snapshot } = await driver.backup(repo, source, {});
    await pgSql(db, 'DELETE FROM app.orders WHERE id % 2 = 0;');
    const live = await fingerprint(db);
    const bin = await mkdtemp(join(tmpdir(), 'sp-pg-bin-'));
    try {
      for (const tool of ['psql', 'pg_dump', 'pg_dumpall']) await symlink(await toolOnPath(tool), join(bin, tool));
      // a pg_restore that lists the archive but fails to restore it
      await writeFile(join(bin, 'pg_restore'), `#!/bin/sh
[ "$1" = "-l" ] && exec ${await toolOnPath('pg_restore')} "$@"
echo "pg_restore: error: could not execute query: ERROR:  simulated failure" >&2
exit 1
`);
      await chmod(join(bin, 'pg_restore'), 0o755);
      const broken = pgSource(db, { bin_dir: bin });
      await assert.rejects(driver.restore(repo, snapshot, broken, {}, {}), /^PgToolError: pg_restore into database "[^"]+__restore_[0-9a-f]{8}" failed \(exit code 1\): .*simulated failure$/);
      await assert.rejects(driver.restore(repo, snapshot, broken, { into: `${prefix}_new` }, {}), /simulated failure/);
      assert.deepEqual(await databasesLike(prefix), [db]);
      assert.equal(await fingerprint(db), live);
    } finally {
      await rm(bin, { recursive: true, force: true });
    }
    // a snapshot of something else is refused
    await assert.rejects(driver.restore(repo, { ...snapshot, meta: { kind: 'sqlite' } }, source, { into: `${prefix}_x` }, {}), /not a PostgreSQL logical backup/);
  });
});

test('a database owner without superuser rights backs up; pg_dumpall failing is then a warning, not a failure', async (t) => {
  await withRepo(t, async (repo, prefix) => {
    const db = prefix;
    const role = `${prefix}_backup`;
    await pgSql('postgres', `CREATE ROLE ${ident(role)} LOGIN; CREATE DATABASE ${ident(db)} OWNER ${ident(role)};`);
    await pgSql(db, `SET ROLE ${ident(role)}; CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 10);`);
    const bin = await mkdtemp(join(tmpdir(), 'sp-pg-bin-'));
    try {
      for (const tool of ['psql', 'pg_dump', 'pg_restore']) await symlink(await toolOnPath(tool), join(bin, tool));
      await writeFile(join(bin, 'pg_dumpall'), '#!/bin/sh\necho "pg_dumpall: error: query failed: ERROR:  permission denied for table pg_authid" >&2\nexit 1\n');
      await chmod(join(bin, 'pg_dumpall'), 0o755);
      const source = pgSource(db, { connection: { host: PG.host, port: PG.port, user: role, database: db }, bin_dir: bin });
      const { snapshot } = await driver.backup(repo, source, {});
      const meta = snapshot.meta as unknown as PostgresLogicalMeta;
      assert.equal(meta.globals, null);
      assert.deepEqual(meta.tables, { 'public.t': 10 });
      assert.equal(meta.warnings.length, 1);
      assert.match(meta.warnings[0]!, /^roles and tablespaces not saved \(globals\.sql\): pg_dumpall --globals-only failed \(exit code 1\): .*permission denied/);
      assert.deepEqual((await listStreams(repo, snapshot)).map((s) => s.name), [`${db}.pgdump`]);
      // the superuser restores it; the role exists, so it owns the database and its table again
      await driver.restore(repo, snapshot, pgSource(db), { into: `${prefix}_copy` }, {});
      assert.equal(await pgSql(`${prefix}_copy`, "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 't';"), role);
      // as a superuser a failing pg_dumpall fails the backup
      await assert.rejects(driver.backup(repo, pgSource(db, { bin_dir: bin }), {}), /pg_dumpall --globals-only failed/);
      assert.equal((await loadSnapshots(repo)).length, 1);
    } finally {
      await rm(bin, { recursive: true, force: true });
    }
  });
});
