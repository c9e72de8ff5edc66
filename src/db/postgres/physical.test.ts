import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { postgresSource, type PostgresSource } from '../../config/schema-sources.js';
import { fastRepository } from '../../repo/testing.js';
import { loadSnapshots } from '../../repo/snapshot.js';
import type { Repository } from '../../repo/repository.js';
import { listStreams } from '../../snapshot/stream-backup.js';
import { UsageError, UserError } from '../../util/errors.js';
import { Secret } from '../../util/secret.js';
import { failure, needService } from '../../../test/services/require.js';
import { startCluster, type PgCluster } from '../../../test/services/pg-cluster.js';
import { parseBaseBackupLog, postgresPhysicalDriver as driver, type PostgresPhysicalMeta } from './physical.js';

const SCHEMA = `
CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL, qty int NOT NULL);
CREATE INDEX items_name ON items (name);
INSERT INTO items (name, qty) SELECT 'item ' || g, g % 17 FROM generate_series(1, 1000) g;
CREATE TABLE notes (k text PRIMARY KEY, v jsonb);
INSERT INTO notes VALUES ('a', '{"x": 1}'), ('b', '[]');
`;

function source(c: PgCluster, extra: Record<string, unknown> = {}): PostgresSource {
  return postgresSource.parse({ name: 'pg', repository: 'main', type: 'postgres', mode: 'physical', bin_dir: c.binDir, connection: { host: c.host, port: c.port, user: c.user, database: 'shop' }, ...extra });
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

test('parseBaseBackupLog reads the WAL start and end of pg_basebackup -v', () => {
  const log = 'pg_basebackup: write-ahead log start point: 0/2000028 on timeline 1\npg_basebackup: write-ahead log end point: 0/2000100\n';
  assert.deepEqual(parseBaseBackupLog(log), { start_lsn: '0/2000028', end_lsn: '0/2000100', timeline: 1 });
  assert.deepEqual(parseBaseBackupLog(''), { start_lsn: null, end_lsn: null, timeline: null });
});

test('physical: full base backup, restore into a new directory, verify on a throwaway server', async (t) => {
  await withCluster(t, async (c, repo, dir) => {
    const src = source(c, { tags: ['nightly'], checks: [{ sql: 'SELECT count(*) = 1000 FROM items' }, { command: 'true' }] });
    assert.equal(driver.describe(src), `postgres://${c.host}:${c.port}/shop`);
    const sysid = await c.sql('postgres', 'SELECT system_identifier FROM pg_control_system();');

    const t0 = Date.now();
    const { snapshotId, snapshot } = await driver.backup(repo, src, { tags: ['manual'] });
    const backupMs = Date.now() - t0;
    assert.match(snapshotId, /^[0-9a-f]{64}$/);
    assert.equal(snapshot.type, 'full');
    assert.deepEqual(snapshot.tags, ['nightly', 'manual']);
    const meta = snapshot.meta as unknown as PostgresPhysicalMeta;
    assert.equal(meta.kind, 'postgres');
    assert.equal(meta.mode, 'physical');
    assert.equal(meta.system_identifier, sysid);
    assert.equal(meta.data_checksums, true);
    assert.match(meta.start_lsn ?? '', /^[0-9A-F]+\/[0-9A-F]+$/);
    assert.match(meta.end_lsn ?? '', /^[0-9A-F]+\/[0-9A-F]+$/);
    assert.equal(meta.timeline, 1);
    assert.ok(meta.end_time);
    assert.deepEqual(meta.warnings, []);
    const streams = await listStreams(repo, snapshot);
    assert.deepEqual(streams.map((s) => s.name), ['base.tar']);

    // the cluster moves on after the backup
    await c.sql('shop', "INSERT INTO items (name, qty) SELECT 'late ' || g, 0 FROM generate_series(1, 500) g;");

    const into = join(dir, 'restored');
    assert.equal(await driver.exists(src, { into }), false);
    const t1 = Date.now();
    const restored = await driver.restore(repo, snapshot, src, { into }, {});
    const restoreMs = Date.now() - t1;
    assert.equal(restored.target, into);
    assert.equal(restored.bytes, streams[0]!.size);
    assert.equal(await driver.exists(src, { into }), true);
    assert.equal((await stat(into)).mode & 0o777, 0o700);
    const names = await readdir(into);
    for (const f of ['PG_VERSION', 'backup_label', 'backup_manifest', 'pg_wal', 'global']) assert.ok(names.includes(f), f);

    const t2 = Date.now();
    const checks = await driver.verify(src, snapshot, { into });
    const verifyMs = Date.now() - t2;
    assert.deepEqual(checks.map((x) => [x.name, x.ok]), [['files restored', true], ['backup manifest', true], ['server starts', true], ['amcheck', true], ['sql: SELECT count(*) = 1000 FROM items', true]], JSON.stringify(checks));
    assert.match(checks[2]!.detail, new RegExp(`system identifier ${sysid}`));
    assert.ok(!names.includes('postmaster.pid'));
    assert.equal((await readdir(into)).includes('postmaster.pid'), false, 'the throwaway server is stopped');

    // a second verify (the copy was started once: no manifest check) still passes; a wrong count fails
    const again = await driver.verify(source(c, { checks: [{ sql: 'SELECT count(*) = 1500 FROM items' }] }), snapshot, { into });
    assert.deepEqual(again.map((x) => [x.name, x.ok]), [['files restored', true], ['server starts', true], ['amcheck', true], ['sql: SELECT count(*) = 1500 FROM items', false]]);

    // restoring again over the copy keeps the old contents aside
    const second = await driver.restore(repo, snapshot, src, { into }, {});
    const kept = (await readdir(dir)).filter((n) => n.startsWith('restored.before-'));
    assert.equal(kept.length, 1);
    assert.match(second.notes?.join(' ') ?? '', /kept, unchanged/);
    assert.ok((await readdir(join(dir, kept[0]!))).includes('PG_VERSION'));

    // in place while the server runs on it: refused, nothing moved
    const inPlace = source(c, { data_directory: c.dataDir });
    assert.equal(await driver.exists(inPlace, {}), true);
    const busy = await failure(driver.restore(repo, snapshot, inPlace, {}, {}));
    assert.ok(busy instanceof UserError);
    assert.match(busy.message, /a PostgreSQL server \(pid \d+\) runs on/);
    assert.ok((await readdir(c.dataDir)).includes('PG_VERSION'));
    // in place, verify only looks at the files
    const placeChecks = await driver.verify(inPlace, snapshot, {});
    assert.deepEqual(placeChecks.map((x) => [x.name, x.ok]), [['files restored', true]]);

    t.diagnostic(`tar ${(streams[0]!.size / 1048576).toFixed(1)} MiB, stored ${(snapshot.summary.data_added / 1048576).toFixed(1)} MiB; backup ${backupMs} ms, restore ${restoreMs} ms, verify ${verifyMs} ms`);
  });
});

test('physical: a failing pg_basebackup leaves no snapshot; diff / incr and in place without data_directory are refused', async (t) => {
  await withCluster(t, async (c, repo, dir) => {
    const src = source(c);
    for (const type of ['differential', 'incremental'] as const) {
      const refused = await failure(driver.backup(repo, src, { type }));
      assert.ok(refused instanceof UserError);
      assert.match(refused.message, new RegExp(`physical ${type} backups are not supported yet`));
    }

    // psql reaches the server, pg_basebackup cannot: no replication connections allowed
    const hba = join(c.dataDir, 'pg_hba.conf');
    const original = await readFile(hba, 'utf8');
    await writeFile(hba, original.split('\n').filter((l) => !/\breplication\b/.test(l) || l.startsWith('#')).join('\n'));
    await c.sql('postgres', 'SELECT pg_reload_conf();');
    const err = await failure(driver.backup(repo, src, {}));
    assert.match(err.message, /^pg_basebackup of postgres:\/\/127\.0\.0\.1:\d+\/shop failed \(exit code 1\): /);
    assert.doesNotMatch(err.message, /\n/);
    assert.deepEqual(await loadSnapshots(repo), []);
    t.diagnostic(err.message);

    // a server that is not there at all: psql fails first, one line too
    const gone = await failure(driver.backup(repo, source(c, { connection: { host: '127.0.0.1', port: 1, user: 'postgres', database: 'shop' } }), {}));
    assert.doesNotMatch(gone.message, /\n/);
    t.diagnostic(gone.message);
    assert.deepEqual(await loadSnapshots(repo), []);

    const noDir = await failure(driver.exists(src, {}));
    assert.ok(noDir instanceof UsageError);
    assert.match(noDir.message, /data_directory/);
    // a restore that fails halfway puts back what was there
    await writeFile(hba, original);
    await c.sql('postgres', 'SELECT pg_reload_conf();');
    const { snapshot } = await driver.backup(repo, src, {});
    const kept = join(dir, 'kept');
    await mkdir(kept);
    await writeFile(join(kept, 'mine'), 'precious');
    const broken = { ...snapshot, meta: { ...snapshot.meta, stream: 'missing.tar' } };
    await failure(driver.restore(repo, broken, src, { into: kept }, {}));
    assert.deepEqual(await readdir(kept), ['mine']);
    assert.deepEqual((await readdir(dir)).filter((n) => n.startsWith('kept.')), []);

    await mkdir(join(dir, 'empty'));
    assert.equal(await driver.exists(src, { into: join(dir, 'empty') }), false);
  });
});
