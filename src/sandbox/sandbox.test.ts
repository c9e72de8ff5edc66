/**
 * Sandbox servers against the real servers of this machine (PostgreSQL on 127.0.0.1:5432, MariaDB on
 * 127.0.0.1:3306): a database made on the production server is backed up with the logical driver, restored into a
 * sandbox and verified there; production keeps its data and gains no database; stop() leaves no folder, no port,
 * no process. Every database and role made here starts with a random `sp_test_<hex>` prefix and is dropped after.
 */
import { test, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { mariadbSource, postgresSource, type MariadbSource, type PostgresSource } from '../config/schema-sources.js';
import { driverFor } from '../db/drivers.js';
import { findTool, ident as myIdent, literal, query } from '../db/mariadb/mariadb-tools.js';
import { psql } from '../db/postgres/pg-tools.js';
import type { Repository } from '../repo/repository.js';
import { fastRepository } from '../repo/testing.js';
import { SafepointError } from '../util/errors.js';
import { Secret } from '../util/secret.js';
import { failure, needService } from '../../test/services/require.js';
import { PG, databasesLike, dropAllLike, ident, pgSql, postgresAvailable, testPrefix } from '../../test/services/postgres.js';
import { startDatabaseSandbox, type DbSandbox } from './index.js';
import { installDbTool } from './mariadb.js';
import { postgresServerBinDir } from './postgres.js';

/** The processes whose command line mentions `path` (a server left running). */
async function processesUsing(path: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes(path)) found.push(`${pid}: ${cmd.replace(/\0/g, ' ')}`);
  }
  return found;
}

/**
 * Runs `fn` with TMPDIR pointing at a new folder of its own (so that sandboxes started elsewhere at the same time
 * do not count), then checks that nothing was left in it and no process still uses it.
 */
async function inPrivateTmp(fn: () => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'sp-sandbox-tmp-'));
  await chmod(dir, 0o755); // under root the servers run as postgres / mysql and must reach their folders
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = dir;
  try {
    try {
      await fn();
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
    }
    assert.deepEqual(await readdir(dir), [], 'every temporary folder is removed');
    assert.deepEqual(await processesUsing(dir), [], 'no server is left running');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Whether nothing accepts connections on 127.0.0.1:port. */
function portClosed(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  });
}

async function gone(path: string): Promise<boolean> {
  return stat(path).then(() => false, () => true);
}

/** Stops the sandbox and checks it left nothing: folder, port, process; a second stop() is harmless. */
async function stopAndCheck(t: TestContext, sandbox: DbSandbox<PostgresSource | MariadbSource>): Promise<void> {
  const port = sandbox.source.connection.port;
  const began = performance.now();
  await sandbox.stop();
  t.diagnostic(`${sandbox.where} stopped in ${Math.round(performance.now() - began)} ms`);
  await sandbox.stop();
  assert.ok(await gone(sandbox.dir), `${sandbox.dir} is removed`);
  assert.ok(await portClosed(port), `port ${port} is closed`);
  assert.deepEqual(await processesUsing(sandbox.dir), []);
}

async function timedStart<S extends PostgresSource | MariadbSource>(t: TestContext, start: () => Promise<DbSandbox<S>>): Promise<DbSandbox<S>> {
  const began = performance.now();
  const sandbox = await start();
  t.diagnostic(`${sandbox.where} started in ${Math.round(performance.now() - began)} ms`);
  return sandbox;
}

async function withRepo(fn: (repo: Repository) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'sp-sandbox-test-'));
  const repo = await fastRepository(join(dir, 'repo'), new Secret('pw'));
  try {
    await fn(repo);
  } finally {
    await repo.close();
    await rm(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------- PostgreSQL

async function postgresReady(t: TestContext): Promise<boolean> {
  if (!needService(t, await postgresAvailable(), `PostgreSQL on ${PG.host}:${PG.port} (user ${PG.user}, trust authentication) is not reachable`)) return false;
  try {
    await postgresServerBinDir({});
    return true;
  } catch (err) {
    return needService(t, false, (err as Error).message);
  }
}

const PG_FIXTURE = (owner: string): string => `
CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int NOT NULL REFERENCES customers (id), amount numeric(10, 2) NOT NULL);
CREATE INDEX orders_customer ON orders (customer_id);
CREATE TABLE ledger (k text PRIMARY KEY, v int NOT NULL);
INSERT INTO customers (name) SELECT 'c' || g FROM generate_series(1, 200) g;
INSERT INTO orders (customer_id, amount) SELECT 1 + g % 200, g / 10.0 FROM generate_series(1, 3000) g;
INSERT INTO ledger VALUES ('a', 1), ('b''s', 2), ('ü', 3);
ALTER TABLE ledger OWNER TO ${ident(owner)};
GRANT SELECT ON customers TO ${ident(owner)};
`;

const PG_FINGERPRINT = `SELECT (SELECT md5(string_agg(t::text, '|' ORDER BY t.id)) FROM customers t) || ' ' ||
  (SELECT md5(string_agg(t::text, '|' ORDER BY t.id)) FROM orders t) || ' ' || (SELECT md5(string_agg(t::text, '|' ORDER BY t.k)) FROM ledger t);`;

/**
 * Makes a database on the production server, backs it up as `user`, restores it into a sandbox (with `roles`) and
 * verifies it; resolves with the sandbox (stopped) and the restore's notes.
 */
async function postgresDrill(t: TestContext, prefix: string, o: { user?: string; roles?: string[] }): Promise<{ notes: readonly string[]; tableOwner: string; userIsSuper: string }> {
  const db = prefix;
  const owner = `${prefix}_owner`;
  await pgSql('postgres', `CREATE ROLE ${ident(owner)} NOLOGIN;\nCREATE DATABASE ${ident(db)};`);
  await pgSql(db, PG_FIXTURE(owner));
  if (o.user) {
    await pgSql('postgres', `CREATE ROLE ${ident(o.user)} LOGIN;\nALTER DATABASE ${ident(db)} OWNER TO ${ident(o.user)};`);
    await pgSql(db, `ALTER TABLE customers OWNER TO ${ident(o.user)};\nALTER TABLE orders OWNER TO ${ident(o.user)};\nGRANT SELECT ON ledger TO ${ident(o.user)};`);
  }
  const source = postgresSource.parse({
    name: 'pg', repository: 'main', type: 'postgres', services: ['web'],
    connection: { host: PG.host, port: PG.port, user: o.user ?? PG.user, database: db },
    checks: [{ sql: 'SELECT count(*) = 200 FROM customers' }],
  });
  const before = await pgSql(db, PG_FINGERPRINT);
  let result: { notes: readonly string[]; tableOwner: string; userIsSuper: string } | undefined;
  await withRepo(async (repo) => {
    const driver = await driverFor(source);
    const { snapshot } = await driver.backup(repo, source, {});
    const sandbox = await timedStart(t, () => startDatabaseSandbox(source, o.roles ? { roles: o.roles } : {}));
    try {
      const s = sandbox.source;
      assert.match(sandbox.where, /^postgres:\/\/127\.0\.0\.1:\d+$/);
      assert.equal(sandbox.where, `postgres://127.0.0.1:${s.connection.port}`);
      assert.deepEqual(s.connection, { host: '127.0.0.1', port: s.connection.port, user: o.user ?? PG.user, database: db });
      assert.notEqual(s.connection.port, PG.port);
      assert.deepEqual(s.services, []);
      assert.equal(s.data_directory, undefined);
      assert.equal(s.name, source.name);
      assert.deepEqual(s.checks, source.checks);
      assert.equal(await driver.exists(s, {}), false);

      const began = performance.now();
      const restored = await driver.restore(repo, snapshot, s, {}, {});
      assert.equal(restored.target, `postgres://127.0.0.1:${s.connection.port}/${db}`);
      const checks = await driver.verify(s, snapshot, {});
      t.diagnostic(`restore and verify in the sandbox: ${Math.round(performance.now() - began)} ms`);
      assert.deepEqual(checks.filter((c) => !c.ok), [], JSON.stringify(checks));
      assert.deepEqual(checks.map((c) => c.name), ['server answers', 'amcheck', 'row counts', 'sql: SELECT count(*) = 200 FROM customers']);
      const [[fingerprint] = []] = await psql(s, db, PG_FINGERPRINT);
      assert.equal(fingerprint, before);
      const [[tableOwner = '', userIsSuper = ''] = []] = await psql(s, db, `SELECT (SELECT tableowner FROM pg_tables WHERE tablename = 'ledger'), (SELECT rolsuper::text FROM pg_roles WHERE rolname = current_user);`);
      result = { notes: restored.notes ?? [], tableOwner, userIsSuper };
    } finally {
      await stopAndCheck(t, sandbox);
    }
  });
  // production: same rows, and no database next to it (no __restore_ / __before_ copy)
  assert.equal(await pgSql(db, PG_FINGERPRINT), before);
  assert.deepEqual(await databasesLike(prefix), [db]);
  return result!;
}

test('PostgreSQL: a logical backup restores into a sandbox and verifies there; production is untouched', async (t) => {
  if (!(await postgresReady(t))) return;
  await inPrivateTmp(async () => {
    const prefix = testPrefix();
    try {
      // the bootstrap user; the owner role does not exist in the sandbox: restored without owners, and said so
      const r = await postgresDrill(t, prefix, {});
      assert.ok(r.notes.some((n) => n.includes(`${prefix}_owner`)), JSON.stringify(r.notes));
      assert.equal(r.tableOwner, PG.user);
      assert.equal(r.userIsSuper, 'true');
    } finally {
      await dropAllLike(prefix);
    }
  });
});

test('PostgreSQL: the sandbox creates the source\'s user (superuser) and the roles asked for, so owners are kept', async (t) => {
  if (!(await postgresReady(t))) return;
  await inPrivateTmp(async () => {
    const prefix = testPrefix();
    try {
      const r = await postgresDrill(t, prefix, { user: `${prefix}_app`, roles: [`${prefix}_owner`, `${prefix}_owner`] });
      assert.deepEqual(r.notes.filter((n) => /do not exist|owned by the restoring user/.test(n)), []);
      assert.equal(r.tableOwner, `${prefix}_owner`);
      assert.equal(r.userIsSuper, 'true');
    } finally {
      await dropAllLike(prefix);
    }
  });
});

test('PostgreSQL: a sandbox that fails to start leaves nothing behind and says why in one line', async (t) => {
  if (!(await postgresReady(t))) return;
  await inPrivateTmp(async () => {
    const realBin = await postgresServerBinDir({});
    const empty = await mkdtemp(join(tmpdir(), 'sp-sandbox-bin-'));
    try {
      const source = postgresSource.parse({ name: 'pg', repository: 'main', type: 'postgres', bin_dir: empty, connection: { database: 'shop' } });
      const missing = await failure(startDatabaseSandbox(source));
      assert.ok(missing instanceof SafepointError);
      assert.equal(missing.message, `PostgreSQL sandbox: initdb not found in bin_dir ${empty}: install the PostgreSQL server (e.g. apt-get install postgresql-15) or set bin_dir to the folder holding initdb and pg_ctl`);

      // half-way: initdb works, the server starts, but pg_ctl reports a failure; the started server must go too
      await chmod(empty, 0o755); // runuser runs the tools as postgres under root
      await symlink(join(realBin, 'initdb'), join(empty, 'initdb'));
      await writeFile(join(empty, 'pg_ctl'), `#!/bin/sh\n"${join(realBin, 'pg_ctl')}" "$@" >/dev/null 2>&1\nrc=$?\ncase "$*" in *" start") echo "pg_ctl: simulated failure" >&2; exit 1;; esac\nexit $rc\n`, { mode: 0o755 });
      const halfway = await failure(startDatabaseSandbox(source));
      assert.ok(halfway instanceof SafepointError);
      assert.equal(halfway.message, 'PostgreSQL sandbox: pg_ctl start failed (exit code 1): pg_ctl: simulated failure');

      const physical = await failure(startDatabaseSandbox({ ...source, mode: 'physical' }));
      assert.match(physical.message, /^PostgreSQL sandbox: source pg is physical; /);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});

// ------------------------------------------------------------------------------------------------------- MariaDB

const MY_PREFIX = `sp_test_${randomBytes(4).toString('hex')}`;
const MY_USER = `${MY_PREFIX}_user`;
const myServer = mariadbSource.parse({ name: 'my', repository: 'main', type: 'mariadb', connection: { host: '127.0.0.1', port: 3306, user: 'root', database: 'mysql' } });
let myAvailable = false;
try {
  await query(myServer, 'SELECT 1');
  myAvailable = true;
} catch {
  // no server: the tests skip (or fail under CI)
}

after(async () => {
  if (!myAvailable) return;
  const dbs = await query(myServer, `SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE LEFT(SCHEMA_NAME, ${MY_PREFIX.length}) = ${literal(MY_PREFIX)}`);
  await query(myServer, [...dbs.map(([db = '']) => `DROP DATABASE IF EXISTS ${myIdent(db)};`), `DROP USER IF EXISTS '${MY_USER}'@'%';`].join('\n'));
});

async function mariadbReady(t: TestContext): Promise<boolean> {
  if (!needService(t, myAvailable, 'no MariaDB server answers on 127.0.0.1:3306 as root without a password (apt-get install mariadb-server)')) return false;
  try {
    await installDbTool({});
    return true;
  } catch (err) {
    return needService(t, false, (err as Error).message);
  }
}

async function myDatabases(): Promise<string[]> {
  return (await query(myServer, `SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE LEFT(SCHEMA_NAME, ${MY_PREFIX.length}) = ${literal(MY_PREFIX)} ORDER BY 1`)).map((r) => r[0]!);
}

const MY_FINGERPRINT = `SELECT CONCAT((SELECT MD5(GROUP_CONCAT(id, name ORDER BY id)) FROM customers), ' ', (SELECT MD5(GROUP_CONCAT(id, customer_id, total ORDER BY id)) FROM orders), ' ', (SELECT COUNT(*) FROM audit))`;

test('MariaDB: a logical backup restores into a sandbox (as the source\'s user) and verifies there; production is untouched', async (t) => {
  if (!(await mariadbReady(t))) return;
  await inPrivateTmp(async () => {
    const db = `${MY_PREFIX}_shop`;
    const dir = await mkdtemp(join(tmpdir(), 'sp-sandbox-test-'));
    try {
      const orders = Array.from({ length: 2000 }, (_, i) => `(${i + 1}, ${1 + (i % 50)}, ${(i * 3.7).toFixed(2)})`).join(', ');
      await query(myServer, `CREATE DATABASE ${myIdent(db)} CHARACTER SET utf8mb4;
  CREATE USER '${MY_USER}'@'%' IDENTIFIED BY 'secret-${MY_PREFIX}';
  GRANT ALL ON ${myIdent(db)}.* TO '${MY_USER}'@'%';`);
      await query(myServer, `
  CREATE TABLE customers (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(100) NOT NULL, KEY idx_name (name));
  CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT NOT NULL, total DECIMAL(10,2), FOREIGN KEY (customer_id) REFERENCES customers (id));
  CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, msg VARCHAR(200));
  INSERT INTO customers (name) SELECT CONCAT('customer ', seq) FROM seq_1_to_50;
  INSERT INTO orders VALUES ${orders};
  CREATE VIEW big_orders AS SELECT id, total FROM orders WHERE total > 5000;
  CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW INSERT INTO audit (msg) VALUES (CONCAT('order ', NEW.id));`, { database: db });
      await writeFile(join(dir, 'password'), `secret-${MY_PREFIX}\n`, { mode: 0o600 });
      const source = mariadbSource.parse({
        name: 'shop', repository: 'main', type: 'mariadb', services: ['web'],
        connection: { host: '127.0.0.1', port: 3306, user: MY_USER, database: db, password_file: join(dir, 'password') },
        checks: [{ sql: 'SELECT COUNT(*) = 50 FROM customers' }],
      });
      const before = (await query(myServer, MY_FINGERPRINT, { database: db }))[0]?.[0];
      await withRepo(async (repo) => {
        const driver = await driverFor(source);
        const { snapshot } = await driver.backup(repo, source, {});
        const sandbox = await timedStart(t, () => startDatabaseSandbox(source));
        try {
          const s = sandbox.source;
          assert.equal(sandbox.where, `mariadb://127.0.0.1:${s.connection.port}`);
          assert.deepEqual(s.connection, { host: '127.0.0.1', port: s.connection.port, user: MY_USER, database: db });
          assert.notEqual(s.connection.port, 3306);
          assert.deepEqual(s.services, []);
          assert.equal(s.data_directory, undefined);
          assert.equal(await driver.exists(s, {}), false);
          const [[grants = ''] = []] = await query(s, 'SHOW GRANTS');
          assert.match(grants, /GRANT ALL PRIVILEGES ON \*\.\* TO/);

          const began = performance.now();
          const restored = await driver.restore(repo, snapshot, s, {}, {});
          assert.equal(restored.target, `mariadb://127.0.0.1:${s.connection.port}/${db}`);
          const checks = await driver.verify(s, snapshot, {});
          t.diagnostic(`restore and verify in the sandbox: ${Math.round(performance.now() - began)} ms`);
          assert.deepEqual(checks.filter((c) => !c.ok), [], JSON.stringify(checks));
          assert.deepEqual(checks.map((c) => c.name), ['server answers', 'CHECK TABLE', 'row counts', 'sql: SELECT COUNT(*) = 50 FROM customers']);
          assert.equal((await query(s, MY_FINGERPRINT, { database: db }))[0]?.[0], before);
          assert.ok((await readFile(sandbox.log, 'utf8')).length > 0, 'the server log is where it says');
        } finally {
          await stopAndCheck(t, sandbox);
        }
      });
      assert.equal((await query(myServer, MY_FINGERPRINT, { database: db }))[0]?.[0], before);
      assert.deepEqual(await myDatabases(), [db]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

test('MariaDB: a sandbox that fails to start leaves nothing behind and says why in one line', async (t) => {
  if (!(await mariadbReady(t))) return;
  await inPrivateTmp(async () => {
    const empty = await mkdtemp(join(tmpdir(), 'sp-sandbox-bin-'));
    try {
      const source = mariadbSource.parse({ name: 'shop', repository: 'main', type: 'mariadb', bin_dir: empty, connection: { database: 'shop' } });
      const missing = await failure(startDatabaseSandbox(source));
      assert.ok(missing instanceof SafepointError);
      assert.equal(missing.message, `MariaDB sandbox: mariadb-install-db not found in bin_dir ${empty}: install the MariaDB server (apt-get install mariadb-server) or set bin_dir to the folder holding mariadb-install-db`);

      // half-way: the data directory is made, then the server dies at once
      await chmod(empty, 0o755);
      await symlink(await installDbTool({}), join(empty, 'mariadb-install-db'));
      await symlink(await findTool('client'), join(empty, 'mariadb'));
      await writeFile(join(empty, 'mariadbd'), '#!/bin/sh\necho "mariadbd: simulated failure" >&2\nexit 1\n', { mode: 0o755 });
      const halfway = await failure(startDatabaseSandbox(source));
      assert.ok(halfway instanceof SafepointError);
      assert.match(halfway.message, /^MariaDB sandbox: mariadbd did not start: [^\n]+$/);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});
