/**
 * The logical MariaDB driver against the real server on 127.0.0.1:3306 (root, no password): backup, restore into a
 * new database and in place, verify, failing dumps, password files. Every database made here starts with one random
 * `sp_test_<hex>` prefix and is dropped at the end.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mariadbSource, type MariadbSource } from '../../config/schema-sources.js';
import { loadSnapshots, type Snapshot } from '../../repo/snapshot.js';
import type { Repository } from '../../repo/repository.js';
import { fastRepository } from '../../repo/testing.js';
import { listStreams } from '../../snapshot/stream-backup.js';
import { UserError } from '../../util/errors.js';
import { Secret } from '../../util/secret.js';
import { failure, needService } from '../../../test/services/require.js';
import { mariadbLogicalDriver as driver } from './logical.js';
import { findTool, ident, literal, query } from './mariadb-tools.js';

const PREFIX = `sp_test_${randomBytes(4).toString('hex')}`;
const USER = `${PREFIX}_user`;

function source(database: string, extra: Partial<{ bin_dir: string; password_file: string; user: string; checks: { sql: string }[] }> = {}): MariadbSource {
  return mariadbSource.parse({
    name: 'shop',
    repository: 'db',
    type: 'mariadb',
    tags: ['nightly'],
    connection: { host: '127.0.0.1', port: 3306, user: extra.user ?? 'root', database, ...(extra.password_file ? { password_file: extra.password_file } : {}) },
    ...(extra.bin_dir ? { bin_dir: extra.bin_dir } : {}),
    checks: extra.checks ?? [{ sql: 'SELECT COUNT(*) > 0 FROM customers' }],
  });
}
const server = source('mysql', { checks: [] });

let available = false;
try {
  await query(server, 'SELECT 1');
  available = true;
} catch {
  // no server: the tests skip (or fail under CI)
}
const missing = 'no MariaDB server answers on 127.0.0.1:3306 as root without a password (apt-get install mariadb-server)';

after(async () => {
  if (!available) return;
  const dbs = await query(server, `SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE LEFT(SCHEMA_NAME, ${PREFIX.length}) = ${literal(PREFIX)}`);
  const drops = dbs.map(([db = '']) => `DROP DATABASE IF EXISTS ${ident(db)};`);
  await query(server, [...drops, `DROP USER IF EXISTS '${USER}'@'%';`].join('\n'));
});

const BLOB = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const NOTES = ['😀 emoji and Zürich', "it's \"quoted\" (with parens); INSERT INTO `x` VALUES (1);", 'back\\slash and\nnew line\ttab', ''];

/** A database with tables (a BLOB and utf8mb4 text, a foreign key, an index), a view, a trigger and a procedure. */
async function fixture(db: string): Promise<void> {
  const orders: string[] = [];
  for (let i = 1; i <= 3000; i++) orders.push(`(${i}, ${1 + (i % 4)}, ${(i * 7.31).toFixed(2)}, ${literal(`order ${i} ${'x'.repeat(500)}`)})`);
  await query(server, `CREATE DATABASE ${ident(db)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  await query(server, `
CREATE TABLE customers (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(100) NOT NULL, note TEXT, photo BLOB, KEY idx_name (name)) DEFAULT CHARSET=utf8mb4;
CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT NOT NULL, total DECIMAL(10,2), memo VARCHAR(600), FOREIGN KEY (customer_id) REFERENCES customers (id), KEY idx_total (total));
CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, msg VARCHAR(200));
CREATE TABLE empty_one (x INT);
INSERT INTO customers (name, note, photo) VALUES ${NOTES.map((n, i) => `(${literal(`customer ${i}`)}, ${literal(n)}, X'${BLOB.toString('hex')}')`).join(', ')};
INSERT INTO orders VALUES ${orders.join(', ')};
CREATE VIEW big_orders AS SELECT o.id, c.name, o.total FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.total > 20000;
CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW INSERT INTO audit (msg) VALUES (CONCAT('order ', NEW.id));
DELIMITER //
CREATE PROCEDURE order_count(OUT n INT) BEGIN SELECT COUNT(*) INTO n FROM orders; END//
DELIMITER ;
`, { database: db });
}

/** Everything a restore must bring back, as text. */
async function contents(db: string): Promise<Record<string, unknown>> {
  const q = (sql: string): Promise<string[][]> => query(server, sql, { database: db });
  const tables = (await q(`SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${literal(db)} AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1`)).map((r) => r[0]!);
  const out: Record<string, unknown> = {
    customers: await q('SELECT id, name, note, HEX(photo) FROM customers ORDER BY id'),
    orders: await q('SELECT COUNT(*), SUM(total), MD5(GROUP_CONCAT(id, customer_id, total, memo ORDER BY id)) FROM orders'),
    audit: await q('SELECT * FROM audit ORDER BY id'),
    view: await q('SELECT COUNT(*), SUM(total) FROM big_orders'),
    procedure: await q('CALL order_count(@n); SELECT @n'),
    triggers: await q(`SELECT TRIGGER_NAME, ACTION_STATEMENT FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ${literal(db)}`),
    charset: await q(`SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ${literal(db)}`),
  };
  for (const t of tables) out[`create ${t}`] = (await q(`SHOW CREATE TABLE ${ident(t)}`))[0]?.[1];
  return out;
}

async function withRepo<T>(fn: (repo: Repository) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'sp-mariadb-'));
  const repo = await fastRepository(dir, new Secret('pw'));
  try {
    return await fn(repo);
  } finally {
    await repo.close();
    await rm(dir, { recursive: true, force: true });
  }
}

test('backup, then restore into a new database: data, schema, view, trigger, procedure; verify; a row-count mismatch is found', async (t) => {
  if (!needService(t, available, missing)) return;
  const db = `${PREFIX}_shop`;
  await fixture(db);
  const src = source(db);
  await withRepo(async (repo) => {
    const atBackup = await contents(db);
    const { snapshot } = await driver.backup(repo, src, { tags: ['manual'] });
    assert.equal(snapshot.source, 'shop');
    assert.deepEqual(snapshot.tags, ['nightly', 'manual']);
    assert.deepEqual(snapshot.paths, [`mariadb://127.0.0.1:3306/${db}`]);
    assert.equal(driver.describe(src), `mariadb://127.0.0.1:3306/${db}`);
    const meta = snapshot.meta!;
    assert.equal(meta.kind, 'mariadb');
    assert.equal(meta.mode, 'logical');
    assert.equal(meta.database, db);
    assert.match(String(meta.server_version), /^\d+\.\d+\.\d+/);
    assert.equal(meta.charset, 'utf8mb4');
    assert.equal(meta.collation, 'utf8mb4_unicode_ci');
    // the counts from the dump equal COUNT(*) on a quiet database
    assert.deepEqual(meta.tables, { audit: 0, customers: 4, empty_one: 0, orders: 3000 });
    const streams = await listStreams(repo, snapshot);
    assert.deepEqual(streams.map((s) => s.name), [`${db}.sql`]);
    assert.ok(streams[0]!.size > 1_500_000, `dump of ${streams[0]!.size} bytes`);

    // the live database moves on
    await query(src, "DELETE FROM orders WHERE id > 2990; UPDATE customers SET note = 'changed' WHERE id = 1; INSERT INTO orders VALUES (5000, 1, 1.00, 'new');", { database: db });
    assert.equal(await driver.exists(src, {}), true);

    const copy = `${PREFIX}_copy`;
    assert.equal(await driver.exists(src, { into: copy }), false);
    const restored = await driver.restore(repo, snapshot, src, { into: copy }, {});
    assert.equal(restored.target, `mariadb://127.0.0.1:3306/${copy}`);
    assert.equal(restored.bytes, streams[0]!.size);
    assert.equal(await driver.exists(src, { into: copy }), true);
    assert.deepEqual(await contents(copy), atBackup);
    // the view reads the copy's tables, the trigger fires in the copy
    const view = await query(server, `SHOW CREATE VIEW ${ident(copy)}.big_orders`);
    assert.ok(!view[0]![1]!.includes(db + '`'), view[0]![1]);
    await query(server, 'INSERT INTO orders VALUES (9000, 2, 3.00, NULL)', { database: copy });
    assert.deepEqual(await query(server, 'SELECT msg FROM audit', { database: copy }), [['order 9000']]);
    await query(server, 'DELETE FROM orders WHERE id = 9000; DELETE FROM audit', { database: copy });

    const checks = await driver.verify(src, snapshot, { into: copy });
    assert.deepEqual(checks.map((c) => [c.name, c.ok]), [['server answers', true], ['CHECK TABLE', true], ['row counts', true], ['sql: SELECT COUNT(*) > 0 FROM customers', true]], JSON.stringify(checks));
    assert.match(checks[2]!.detail, /4 tables, 3004 rows/);

    // a mismatch: a row gone, a table too many, a failing SQL check
    await query(server, 'DELETE FROM orders WHERE id = 1; CREATE TABLE stray (x INT)', { database: copy });
    const failing = await driver.verify(source(db, { checks: [{ sql: 'SELECT COUNT(*) FROM orders WHERE id = 1' }] }), snapshot, { into: copy });
    assert.deepEqual(failing.map((c) => [c.name, c.ok]), [['server answers', true], ['CHECK TABLE', true], ['row counts', false], ['sql: SELECT COUNT(*) FROM orders WHERE id = 1', false]]);
    assert.equal(failing[2]!.detail, 'orders: 2999 rows, the backup had 3000; stray: not in the backup');
    assert.equal(failing[3]!.detail, 'first value: 0');
    // a database that is not there
    const absent = await driver.verify(src, snapshot, { into: `${PREFIX}_absent` });
    assert.deepEqual(absent.map((c) => [c.name, c.ok]), [['server answers', false], ['CHECK TABLE', false], ['row counts', false], ['sql: SELECT COUNT(*) > 0 FROM customers', false]]);
    assert.match(absent[0]!.detail, /^mariadb exited with code 1: .*Unknown database/);
  });
});

test('restore in place: the snapshot replaces the database, the old tables are kept in <db>__before_<time>', async (t) => {
  if (!needService(t, available, missing)) return;
  const db = `${PREFIX}_inplace`;
  await fixture(db);
  const src = source(db);
  await withRepo(async (repo) => {
    const atBackup = await contents(db);
    const { snapshot } = await driver.backup(repo, src, {});
    // after the backup: rows change, a table, a view and a procedure appear that the snapshot does not have
    await query(src, `
DELETE FROM orders WHERE id > 100;
INSERT INTO orders VALUES (7777, 2, 1.00, 'late');
CREATE TABLE added_later (x INT); INSERT INTO added_later VALUES (1), (2);
CREATE VIEW later_view AS SELECT * FROM added_later;
CREATE PROCEDURE later_proc() SELECT 1;`, { database: db });
    assert.equal(await driver.exists(src, {}), true);
    const restored = await driver.restore(repo, snapshot, src, {}, {});
    assert.equal(restored.target, `mariadb://127.0.0.1:3306/${db}`);
    assert.deepEqual(await contents(db), atBackup);
    const leftovers = await query(server, `SELECT
      (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${literal(db)} AND TABLE_NAME IN ('added_later', 'later_view')),
      (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ${literal(db)} AND ROUTINE_NAME = 'later_proc')`);
    assert.deepEqual(leftovers, [['0', '0']]);
    // the old data is kept, with its trigger; the trial database is gone
    const dbs = (await query(server, `SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE LEFT(SCHEMA_NAME, ${db.length + 2}) = ${literal(`${db}__`)}`)).map((r) => r[0]!);
    assert.equal(dbs.length, 1, dbs.join(', '));
    const before = dbs[0]!;
    assert.match(before, new RegExp(`^${db}__before_\\d{8}T\\d{6}$`));
    assert.deepEqual(await query(server, 'SELECT COUNT(*), MAX(id) FROM orders; SELECT COUNT(*) FROM added_later', { database: before }), [['101', '7777'], ['2']]);
    assert.deepEqual(await query(server, `SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ${literal(before)}`), [['orders_audit', 'orders']]);
    // the restored database's trigger works on its own tables
    await query(server, 'INSERT INTO orders VALUES (8000, 3, 2.00, NULL)', { database: db });
    assert.deepEqual(await query(server, 'SELECT msg FROM audit', { database: db }), [['order 8000']]);
    await query(server, 'DELETE FROM orders WHERE id = 8000; DELETE FROM audit', { database: db });
    assert.ok((await driver.verify(src, snapshot, {})).every((c) => c.ok));
  });
});

test('while the database is being written to, the recorded counts are those of the dump, so verify holds after a restore', async (t) => {
  if (!needService(t, available, missing)) return;
  const db = `${PREFIX}_busy`;
  await fixture(db);
  const flags = `${PREFIX}_flags`;
  await query(server, `CREATE DATABASE ${ident(flags)}; CREATE TABLE ${ident(flags)}.stop (x INT)`);
  await query(server, `DELIMITER //
CREATE PROCEDURE churn() BEGIN DECLARE i INT DEFAULT 0; WHILE NOT EXISTS (SELECT 1 FROM ${ident(flags)}.stop) DO
  INSERT INTO orders VALUES (100000 + i, 1, 1.00, 'during'); SET i = i + 1; END WHILE; END//`, { database: db });
  const src = source(db);
  const orders = async (): Promise<number> => Number((await query(server, 'SELECT COUNT(*) FROM orders', { database: db }))[0]![0]);
  const until = async (ok: (n: number) => boolean): Promise<void> => {
    while (!ok(await orders())) await new Promise((r) => setTimeout(r, 20));
  };
  await withRepo(async (repo) => {
    // writes go on before, during and after the dump: the counts must be the dump's, not the live tables'
    const writer = query(server, 'CALL churn()', { database: db });
    let snapshot: Snapshot;
    let inDump: number;
    try {
      await until((n) => n > 3000);
      ({ snapshot } = await driver.backup(repo, src, {}));
      inDump = (snapshot.meta!.tables as Record<string, number>).orders!;
      await until((n) => n > inDump);
    } finally {
      await query(server, `INSERT INTO ${ident(flags)}.stop VALUES (1)`);
      await writer;
    }
    const after = await orders();
    assert.ok(inDump > 3000 && inDump < after, `orders: ${inDump} in the dump, ${after} after the writes`);
    assert.equal(Number((await query(server, 'SELECT COUNT(*) FROM audit', { database: db }))[0]![0]), after - 3000);
    const copy = `${PREFIX}_busy_copy`;
    await driver.restore(repo, snapshot, src, { into: copy }, {});
    const checks = await driver.verify(src, snapshot, { into: copy });
    assert.ok(checks.every((c) => c.ok), JSON.stringify(checks));
  });
});

test('an aborted backup stops the dump and records nothing', async (t) => {
  if (!needService(t, available, missing)) return;
  const db = `${PREFIX}_abort`;
  await fixture(db);
  const bin = await mkdtemp(join(tmpdir(), 'sp-mariadb-bin-'));
  try {
    await withRepo(async (repo) => {
      // aborted when the stream is stored but the snapshot not yet recorded
      const ac = new AbortController();
      const late = await failure(driver.backup(repo, source(db), { signal: ac.signal, onProgress: () => ac.abort() }));
      assert.equal(late.name, 'AbortError');
      // aborted in the middle of a dump that would go on for a minute: the tool is stopped
      await symlink(await findTool('client'), join(bin, 'mariadb'));
      await writeFile(join(bin, 'mariadb-dump'), '#!/bin/sh\nhead -c 4000000 /dev/urandom\nexec sleep 60\n', { mode: 0o755 });
      const ac2 = new AbortController();
      const started = Date.now();
      const midway = await failure(driver.backup(repo, source(db, { bin_dir: bin }), { signal: ac2.signal, onProgress: () => ac2.abort() }));
      assert.equal(midway.name, 'AbortError');
      assert.ok(Date.now() - started < 10_000);
      assert.equal((await loadSnapshots(repo)).length, 0);
    });
  } finally {
    await rm(bin, { recursive: true, force: true });
  }
});

test('a failing dump records no snapshot and says why in one line', async (t) => {
  if (!needService(t, available, missing)) return;
  await withRepo(async (repo) => {
    const err = await failure(driver.backup(repo, source(`${PREFIX}_nonexistent`), {}));
    assert.match(err.message, /^mariadb-dump exited with code 2: .*Unknown database/);
    assert.ok(!err.message.includes('\n'), err.message);
    assert.equal((await loadSnapshots(repo)).length, 0);

    // a dump that fails after writing everything (the tool's exit code is what counts)
    const db = `${PREFIX}_midway`;
    await fixture(db);
    const bin = await mkdtemp(join(tmpdir(), 'sp-mariadb-bin-'));
    try {
      await symlink(await findTool('client'), join(bin, 'mariadb'));
      const script = `#!/bin/sh\n${await findTool('dump')} "$@" || exit 9\necho "first line" >&2\necho "mariadb-dump: Error 2013: Lost connection to server during query" >&2\nexit 2\n`;
      await writeFile(join(bin, 'mariadb-dump'), script);
      await chmod(join(bin, 'mariadb-dump'), 0o755);
      const midway = await failure(driver.backup(repo, source(db, { bin_dir: bin }), {}));
      assert.equal(midway.message, 'mariadb-dump exited with code 2: first line | mariadb-dump: Error 2013: Lost connection to server during query');
      assert.equal((await loadSnapshots(repo)).length, 0);
      // a restore that fails: the new database is dropped again
      const { snapshot } = await driver.backup(repo, source(db), {});
      const broken = { ...snapshot, meta: { ...snapshot.meta, stream: 'missing.sql' } };
      await assert.rejects(driver.restore(repo, broken, source(db), { into: `${PREFIX}_broken` }, {}), /no stream named missing.sql/);
      assert.equal(await driver.exists(source(db), { into: `${PREFIX}_broken` }), false);
      // and in place: the live database is not touched
      const inPlace = await failure(driver.restore(repo, broken, source(db), {}, {}));
      assert.match(inPlace.message, /^restore of .* stopped before it was changed \(the trial load into .*__restore_[0-9a-f]{8} failed\): the snapshot has no stream named missing.sql$/);
      assert.deepEqual(await query(server, `SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE LEFT(SCHEMA_NAME, ${db.length + 2}) = ${literal(`${db}__`)}`), [['0']]);
      assert.deepEqual(await query(server, 'SELECT COUNT(*) FROM orders', { database: db }), [['3000']]);
      // a snapshot of something else is refused
      await assert.rejects(driver.restore(repo, { ...snapshot, meta: { kind: 'postgres' } }, source(db), {}, {}), UserError);
      // a logical backup is always full
      await assert.rejects(driver.backup(repo, source(db), { type: 'incremental' }), /always full/);
    } finally {
      await rm(bin, { recursive: true, force: true });
    }
  });
});

test('the password comes from password_file through MYSQL_PWD; a wrong one fails in one line without showing it', async (t) => {
  if (!needService(t, available, missing)) return;
  const db = `${PREFIX}_pw`;
  const secret = `pw-${randomBytes(6).toString('hex')}`;
  await query(server, `CREATE DATABASE ${ident(db)}; CREATE TABLE ${ident(db)}.t (a INT); INSERT INTO ${ident(db)}.t VALUES (1), (2);
CREATE USER '${USER}'@'%' IDENTIFIED BY '${secret}'; GRANT ALL ON ${ident(db)}.* TO '${USER}'@'%';`);
  const dir = await mkdtemp(join(tmpdir(), 'sp-mariadb-pw-'));
  try {
    await writeFile(join(dir, 'good'), `${secret}\n`, { mode: 0o600 });
    await writeFile(join(dir, 'bad'), 'wrong\n', { mode: 0o600 });
    await withRepo(async (repo) => {
      const { snapshot } = await driver.backup(repo, source(db, { user: USER, password_file: join(dir, 'good'), checks: [] }), {});
      assert.deepEqual(snapshot.meta!.tables, { t: 2 });
      const err = await failure(driver.backup(repo, source(db, { user: USER, password_file: join(dir, 'bad'), checks: [] }), {}));
      assert.match(err.message, /^mariadb exited with code 1: .*Access denied for user/);
      assert.ok(!err.message.includes('wrong') && !err.message.includes('\n'), err.message);
      const unreadable = await failure(driver.exists(source(db, { user: USER, password_file: join(dir, 'absent') }), {}));
      assert.ok(unreadable instanceof UserError);
      assert.match(unreadable.message, /cannot read the MariaDB password_file .*absent/);
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('tools are found in bin_dir, MariaDB names before MySQL names, with a clear error when missing', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sp-mariadb-tools-'));
  try {
    await mkdir(join(dir, 'both'));
    for (const name of ['mysql', 'mariadb', 'mysqldump']) {
      await writeFile(join(dir, 'both', name), '#!/bin/sh\n');
      await chmod(join(dir, 'both', name), 0o755);
    }
    assert.equal(await findTool('client', join(dir, 'both')), join(dir, 'both', 'mariadb'));
    assert.equal(await findTool('dump', join(dir, 'both')), join(dir, 'both', 'mysqldump'));
    const err = await failure(findTool('dump', dir));
    assert.ok(err instanceof UserError);
    assert.equal(err.message, `neither mariadb-dump nor mysqldump is in bin_dir ${dir}: install the MariaDB tools (apt-get install mariadb-client) or set bin_dir`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
