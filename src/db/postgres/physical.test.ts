import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { postgresSource, type PostgresSource } from '../../config/schema-sources.js';
import { fastRepository } from '../../repo/testing.js';
import { loadSnapshots } from '../../repo/snapshot.js';
import type { Repository } from '../../repo/repository.js';
import { UsageError, UserError } from '../../util/errors.js';
import { Secret } from '../../util/secret.js';
import { failure, needService } from '../../../test/services/require.js';
import { startCluster, type PgCluster } from '../../../test/services/pg-cluster.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { freePort } from '../../util/net.js';
import { asUser } from '../../../test/services/pg-cluster.js';
import { baseBackupExcluder } from './base-backup.js';
import { postgresPhysicalDriver as driver, type PostgresPhysicalMeta } from './physical.js';

const exec = promisify(execFile);

const SCHEMA = `
CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL, qty int NOT NULL);
CREATE INDEX items_name ON items (name);
INSERT INTO items (name, qty) SELECT 'item ' || g, g % 17 FROM generate_series(1, 1000) g;
CREATE TABLE notes (k text PRIMARY KEY, v jsonb);
INSERT INTO notes VALUES ('a', '{"x": 1}'), ('b', '[]');
`;

function source(c: PgCluster, extra: Record<string, unknown> = {}): PostgresSource {
  return postgresSource.parse({ name: 'pg', repository: 'main', type: 'postgres', mode: 'physical', bin_dir: c.binDir, data_directory: c.dataDir, connection: { host: c.host, port: c.port, user: c.user, database: 'shop' }, ...extra });
}

async function withCluster(t: TestContext, fn: (c: PgCluster, repo: Repository, dir: string) => Promise<void>): Promise<void> {
  let cluster: PgCluster | null = null;
  try {
    cluster = await startCluster();
  } catch (err) {
    if (!needService(t, false, `a throwaway PostgreSQL cluster could not be started: ${(err as Error).message}`)) return;
  }
  if (!needService(t, cluster !== null, 'PostgreSQL server binaries (initdb, pg_ctl) are not installed')) return;
  const c = cluster!;
  const dir = await mkdtemp(join(tmpdir(), 'sp-pgphys-'));
  await chmod(dir, 0o755); // the server's OS user must reach restored data directories under it
  const repo = await fastRepository(join(dir, 'repo'), new Secret('pw'));
  try {
    await c.sql('postgres', 'CREATE DATABASE shop;');
    await c.sql('shop', SCHEMA);
    await fn(c, repo, dir);
  } finally {
    await repo.close();
    await c.stop();
    await rm(dir, { recursive: true, force: true });
  }
}


/** pg_dump of database shop on a restored copy started on `port` (schema and data, deterministic order). */
async function dumpAt(c: PgCluster, port: number): Promise<string> {
  const { stdout } = await exec(join(c.binDir, 'pg_dump'), ['-h', '127.0.0.1', '-p', String(port), '-U', c.user, '-w', '--no-comments', 'shop'], { maxBuffer: 256 << 20 });
  // pg_dump 15.14+ writes a random \\restrict key per run
  return stdout.replace(/^\\(un)?restrict .*$/gm, '');
}

/** Starts a restored copy, dumps it, stops it. */
async function dumpRestored(c: PgCluster, src: PostgresSource, into: string): Promise<string> {
  const port = await freePort();
  await driver.startRestored!(src, { into, start: true, port });
  try {
    return await dumpAt(c, port);
  } finally {
    const [cmd, args] = asUser(c.osUser, join(c.binDir, 'pg_ctl'), ['-D', into, '-m', 'fast', '-w', 'stop']);
    await exec(cmd, args);
  }
}

test('base backups leave out what the server recreates, keep the folders it expects', () => {
  const ex = baseBackupExcluder('/d');
  for (const p of ['/d/postmaster.pid', '/d/backup_label', '/d/pg_wal/000000010000000000000001', '/d/pg_wal/archive_status/x.ready', '/d/pg_stat_tmp/global.stat', '/d/base/1/pg_internal.init', '/d/base/pgsql_tmp', '/d/recovery.signal']) assert.equal(ex(p), true, p);
  for (const p of ['/d/pg_wal', '/d/pg_wal/archive_status', '/d/base/1/1259', '/d/global/pg_control', '/d/postgresql.auto.conf', '/d/pg_stat_tmp', '/d/base/1/backup_label']) assert.equal(ex(p), false, p);
});

test('physical: a full base backup holds the data directory and its WAL; restored into a new directory and verified on a throwaway server', async (t) => {
  await withCluster(t, async (c, repo, dir) => {
    const src = source(c, { tags: ['nightly'], checks: [{ sql: 'SELECT count(*) = 1000 FROM items' }, { command: 'true' }] });
    assert.equal(driver.describe(src), `postgres://${c.host}:${c.port}/shop`);
    const sysid = await c.sql('postgres', 'SELECT system_identifier FROM pg_control_system();');

    const t0 = Date.now();
    const { snapshotId, snapshot } = await driver.backup(repo, src, { tags: ['manual'] });
    const backupMs = Date.now() - t0;
    assert.match(snapshotId, /^[0-9a-f]{64}$/);
    assert.equal(snapshot.type, 'full');
    assert.equal(snapshot.parent, null);
    assert.deepEqual(snapshot.tags, ['nightly', 'manual']);
    const meta = snapshot.meta as unknown as PostgresPhysicalMeta;
    assert.equal(meta.kind, 'postgres');
    assert.equal(meta.mode, 'physical');
    assert.equal(meta.format, 'tree');
    assert.equal(meta.system_identifier, sysid);
    assert.equal(meta.data_checksums, true);
    assert.match(meta.start_lsn, /^[0-9A-F]+\/[0-9A-F]+$/);
    assert.match(meta.stop_lsn ?? '', /^[0-9A-F]+\/[0-9A-F]+$/);
    assert.equal(meta.timeline, 1);
    assert.ok(meta.stop_time);
    assert.ok(meta.wal_segments.length >= 1);
    assert.deepEqual(meta.warnings, []);
    assert.equal(snapshot.summary.files_unmodified, 0);
    // the temporary replication slot went with the session
    assert.equal(await c.sql('postgres', 'SELECT count(*) FROM pg_replication_slots;'), '0');
    assert.equal(await c.sql('postgres', 'SELECT count(*) FROM pg_stat_activity WHERE backend_type = \'client backend\' AND pid <> pg_backend_pid();'), '0');

    // the cluster moves on after the backup
    await c.sql('shop', "INSERT INTO items (name, qty) SELECT 'late ' || g, 0 FROM generate_series(1, 500) g;");

    const into = join(dir, 'restored');
    assert.equal(await driver.exists(src, { into }), false);
    const t1 = Date.now();
    const restored = await driver.restore(repo, snapshot, src, { into }, {});
    const restoreMs = Date.now() - t1;
    assert.equal(restored.target, into);
    assert.ok(restored.bytes > 10 << 20);
    assert.equal(await driver.exists(src, { into }), true);
    assert.equal((await stat(into)).mode & 0o777, 0o700);
    const names = await readdir(into);
    for (const f of ['PG_VERSION', 'backup_label', 'pg_wal', 'global', 'pg_stat_tmp']) assert.ok(names.includes(f), f);
    assert.ok(!names.includes('postmaster.pid'));
    assert.deepEqual((await readdir(join(into, 'pg_wal'))).sort(), ['archive_status', ...meta.wal_segments].sort());

    const t2 = Date.now();
    const checks = await driver.verify(src, snapshot, { into });
    const verifyMs = Date.now() - t2;
    assert.deepEqual(checks.map((x) => [x.name, x.ok]), [['files restored', true], ['server starts', true], ['amcheck', true], ['sql: SELECT count(*) = 1000 FROM items', true]], JSON.stringify(checks));
    assert.match(checks.find((x) => x.name === 'amcheck')?.detail ?? '', /^[1-9]\d* btree indexes of user tables/, 'the indexes were really checked');
    assert.match(checks[1]!.detail, new RegExp(`system identifier ${sysid}`));
    assert.equal((await readdir(into)).includes('postmaster.pid'), false, 'the throwaway server is stopped');

    // a second verify still passes; a wrong count fails
    const again = await driver.verify(source(c, { checks: [{ sql: 'SELECT count(*) = 1500 FROM items' }] }), snapshot, { into });
    assert.deepEqual(again.map((x) => [x.name, x.ok]), [['files restored', true], ['server starts', true], ['amcheck', true], ['sql: SELECT count(*) = 1500 FROM items', false]]);

    // restoring again over the copy keeps the old contents aside
    const second = await driver.restore(repo, snapshot, src, { into }, {});
    const kept = (await readdir(dir)).filter((n) => n.startsWith('restored.before-'));
    assert.equal(kept.length, 1);
    assert.match(second.notes?.join(' ') ?? '', /kept, unchanged/);
    assert.ok((await readdir(join(dir, kept[0]!))).includes('PG_VERSION'));

    // in place while the server runs on it: refused, nothing moved
    assert.equal(await driver.exists(src, {}), true);
    const busy = await failure(driver.restore(repo, snapshot, src, {}, {}));
    assert.ok(busy instanceof UserError);
    assert.match(busy.message, /a PostgreSQL server \(pid \d+\) runs on/);
    assert.ok((await readdir(c.dataDir)).includes('PG_VERSION'));
    // in place, verify only looks at the files
    const placeChecks = await driver.verify(src, snapshot, {});
    assert.deepEqual(placeChecks.map((x) => [x.name, x.ok]), [['files restored', true]]);

    t.diagnostic(`data ${(snapshot.summary.total_bytes_processed / 1048576).toFixed(1)} MiB, stored ${(snapshot.summary.data_added / 1048576).toFixed(1)} MiB; backup ${backupMs} ms, restore ${restoreMs} ms, verify ${verifyMs} ms`);
  });
});

test('physical: incr reads only what changed since the last backup, diff since the last full; each restores to the same data as the live cluster', async (t) => {
  await withCluster(t, async (c, repo, dir) => {
    const src = source(c);
    // files written less than 2 s before a backup are read again by the next one: let initdb's files age
    await new Promise((r) => setTimeout(r, 2100));
    const first = await driver.backup(repo, src, { type: 'incremental' });
    assert.equal(first.snapshot.type, 'full', 'nothing to build on: taken as full');
    assert.match((first.snapshot.meta as unknown as PostgresPhysicalMeta).warnings.join(' '), /taken as full/);
    await new Promise((r) => setTimeout(r, 2100)); // past the parent's reuse margin

    await c.sql('shop', "INSERT INTO items (name, qty) SELECT 'incr ' || g, 1 FROM generate_series(1, 3000) g; CHECKPOINT;");
    const incr = await driver.backup(repo, src, { type: 'incremental' });
    const afterIncr = await dumpAt(c, c.port);
    assert.equal(incr.snapshot.type, 'incremental');
    assert.equal(incr.snapshot.parent, first.snapshotId);
    const s1 = incr.snapshot.summary;
    assert.ok(s1.files_unmodified > s1.files_changed + s1.files_new, JSON.stringify(s1));
    await new Promise((r) => setTimeout(r, 2100));

    await c.sql('shop', "UPDATE items SET qty = qty + 1 WHERE id % 7 = 0; DELETE FROM notes WHERE k = 'b'; CHECKPOINT;");
    const diff = await driver.backup(repo, src, { type: 'differential' });
    const afterDiff = await dumpAt(c, c.port);
    assert.equal(diff.snapshot.type, 'differential');
    assert.equal(diff.snapshot.parent, first.snapshotId, 'a diff builds on the last full, not on the incr');
    assert.ok(diff.snapshot.summary.files_unmodified > 0);

    const full = await driver.backup(repo, src, { type: 'full' });
    assert.equal(full.snapshot.parent, null);
    assert.equal(full.snapshot.summary.files_unmodified, 0, 'a full backup reads every file');

    const incrDir = join(dir, 'incr');
    await driver.restore(repo, incr.snapshot, src, { into: incrDir }, {});
    assert.equal(await dumpRestored(c, src, incrDir), afterIncr);
    const diffDir = join(dir, 'diff');
    await driver.restore(repo, diff.snapshot, src, { into: diffDir }, {});
    assert.equal(await dumpRestored(c, src, diffDir), afterDiff);
    const fullDir = join(dir, 'full');
    await driver.restore(repo, full.snapshot, src, { into: fullDir }, {});
    assert.equal(await dumpRestored(c, src, fullDir), afterDiff);
    t.diagnostic(`incr read ${s1.files_new + s1.files_changed} files, reused ${s1.files_unmodified}; diff read ${diff.snapshot.summary.files_new + diff.snapshot.summary.files_changed}, reused ${diff.snapshot.summary.files_unmodified}`);
  });
});

test('physical: a wrong or missing data_directory and an unreachable server are refused in one line, leaving no snapshot; a failed restore puts back what was there', async (t) => {
  await withCluster(t, async (c, repo, dir) => {
    const none = await failure(driver.backup(repo, source(c, { data_directory: undefined }), {}));
    assert.ok(none instanceof UsageError);
    assert.match(none.message, /set data_directory/);
    const other = join(dir, 'other');
    await mkdir(other);
    await writeFile(join(other, 'PG_VERSION'), '15\n');
    const wrong = await failure(driver.backup(repo, source(c, { data_directory: other }), {}));
    assert.match(wrong.message, /is not the directory of the server/);
    const missing = await failure(driver.backup(repo, source(c, { data_directory: join(dir, 'nope') }), {}));
    assert.match(missing.message, /is not readable as a PostgreSQL data directory/);
    const gone = await failure(driver.backup(repo, source(c, { connection: { host: '127.0.0.1', port: 1, user: 'postgres', database: 'shop' } }), {}));
    for (const e of [none, wrong, missing, gone]) assert.doesNotMatch(e.message, /\n/);
    assert.deepEqual(await loadSnapshots(repo), []);
    // nothing is left in backup mode
    const { snapshot } = await driver.backup(repo, source(c), {});

    const noDir = await failure(driver.exists(source(c, { data_directory: undefined }), {}));
    assert.ok(noDir instanceof UsageError);
    const kept = join(dir, 'kept');
    await mkdir(kept);
    await writeFile(join(kept, 'mine'), 'precious');
    const broken = { ...snapshot, meta: { ...snapshot.meta, data_node: 'missing' } };
    await failure(driver.restore(repo, broken, source(c), { into: kept }, {}));
    assert.deepEqual(await readdir(kept), ['mine']);
    assert.deepEqual((await readdir(dir)).filter((n) => n.startsWith('kept.')), []);
    await mkdir(join(dir, 'empty'));
    assert.equal(await driver.exists(source(c), { into: join(dir, 'empty') }), false);
  });
});
