import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { postgresSource } from '../../config/schema-sources.js';
import { fastRepository } from '../../repo/testing.js';
import { loadSnapshots } from '../../repo/snapshot.js';
import type { Repository } from '../../repo/repository.js';
import { scanSource } from '../../scan/index.js';
import { Secret } from '../../util/secret.js';
import { needService } from '../../../test/services/require.js';
import { startCluster, type PgCluster } from '../../../test/services/pg-cluster.js';
import { PG, dropAllLike, pgSource, pgSql, postgresAvailable, testPrefix } from '../../../test/services/postgres.js';
import type { PostgresPhysicalMeta } from './base-backup.js';
import { postgresLogicalDriver as logical, type PostgresLogicalMeta } from './logical.js';
import { postgresPhysicalDriver as physical } from './physical.js';

async function withRepo(t: TestContext, fn: (repo: Repository, prefix: string) => Promise<void>): Promise<void> {
  if (!needService(t, await postgresAvailable(), `PostgreSQL on ${PG.host}:${PG.port} (user ${PG.user}, trust authentication) is not reachable`)) return;
  const prefix = testPrefix();
  const dir = await mkdtemp(join(tmpdir(), 'sp-pgact-'));
  const repo = await fastRepository(join(dir, 'repo'), new Secret('pw'));
  try {
    await fn(repo, prefix);
  } finally {
    await repo.close();
    await rm(dir, { recursive: true, force: true });
    await dropAllLike(prefix);
  }
}

/**
 * Waits until the server's counters of `table` show `upd` updates: a session reports its counters when it goes idle
 * or exits, a moment after the client saw the command succeed.
 */
async function settled(sql: (q: string) => Promise<string>, table: string, upd: number): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const n = Number(await sql(`SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = '${table}';`));
    if (n >= upd) return;
    if (Date.now() > deadline) assert.fail(`the counters of ${table} show ${n} updates, not ${upd}, after 15 s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('logical backups record the row counters; a mass update that keeps the row count is flagged by the scan, a 5% update is not', async (t) => {
  await withRepo(t, async (repo, db) => {
    await pgSql('postgres', `CREATE DATABASE "${db}";`);
    await pgSql(db, "CREATE TABLE customers (id int PRIMARY KEY, email text NOT NULL);\nINSERT INTO customers SELECT g, 'user' || g || '@example.com' FROM generate_series(1, 5000) g;");
    const source = pgSource(db);
    const sql = (q: string): Promise<string> => pgSql(db, q);
    await settled(sql, 'customers', 0);

    const first = await logical.backup(repo, source, {});
    const meta = first.snapshot.meta as unknown as PostgresLogicalMeta;
    assert.deepEqual(meta.tables, { 'public.customers': 5000 });
    assert.deepEqual(meta.warnings, []);
    assert.ok(meta.stats_reset === null || /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/.test(meta.stats_reset ?? ''), String(meta.stats_reset));
    const c0 = meta.table_activity?.['public.customers'];
    assert.ok(c0, JSON.stringify(meta.table_activity));
    assert.deepEqual(Object.keys(meta.table_activity ?? {}), ['public.customers']);

    await sql('UPDATE customers SET email = upper(email) WHERE id % 20 = 0;'); // 250 rows: an ordinary day
    await settled(sql, 'customers', c0.upd + 250);
    await logical.backup(repo, source, {});
    await sql('UPDATE customers SET email = md5(email);'); // every row rewritten, still 5,000 of them
    await settled(sql, 'customers', c0.upd + 5250);
    const last = await logical.backup(repo, source, {});
    assert.deepEqual((last.snapshot.meta as unknown as PostgresLogicalMeta).tables, { 'public.customers': 5000 });

    const r = await scanSource(repo, await loadSnapshots(repo, { source: source.name }));
    assert.deepEqual(r.map((x) => x.suspicious), [false, false, true], JSON.stringify(r.map((x) => [x.score, x.reasons, x.figures.row_churn])));
    assert.equal(r[1]!.figures.row_churn, 250);
    assert.deepEqual(r[1]!.reasons, []);
    assert.equal(r[2]!.figures.rows_updated, 5000);
    assert.equal(r[2]!.figures.rows_deleted, 0);
    assert.equal(r[2]!.figures.rows_before, 5000);
    assert.equal(r[2]!.figures.rows_after, 5000);
    assert.deepEqual(r[2]!.reasons, ['5,000 rows updated or deleted since the previous backup (100% of 5,000 rows) vs baseline 250']);
  });
});

async function withCluster(t: TestContext, fn: (c: PgCluster, repo: Repository) => Promise<void>): Promise<void> {
  let cluster: PgCluster | null = null;
  try {
    cluster = await startCluster();
  } catch (err) {
    if (!needService(t, false, `a throwaway PostgreSQL cluster could not be started: ${(err as Error).message}`)) return;
  }
  if (!needService(t, cluster !== null, 'PostgreSQL server binaries (initdb, pg_ctl) are not installed')) return;
  const c = cluster!;
  const dir = await mkdtemp(join(tmpdir(), 'sp-pgact-'));
  await chmod(dir, 0o755);
  const repo = await fastRepository(join(dir, 'repo'), new Secret('pw'));
  try {
    await fn(c, repo);
  } finally {
    await repo.close();
    await c.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

test('physical base backups record the row counters of the configured database', async (t) => {
  await withCluster(t, async (c, repo) => {
    await c.sql('postgres', 'CREATE DATABASE shop;');
    await c.sql('shop', "CREATE TABLE items (id int PRIMARY KEY, name text);\nINSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 1000) g;\nUPDATE items SET name = upper(name) WHERE id <= 100;\nDELETE FROM items WHERE id > 990;");
    await settled((q) => c.sql('shop', q), 'items', 100);
    const source = postgresSource.parse({ name: 'pg', repository: 'main', type: 'postgres', mode: 'physical', bin_dir: c.binDir, data_directory: c.dataDir, connection: { host: c.host, port: c.port, user: c.user, database: 'shop' } });
    const { snapshot } = await physical.backup(repo, source, {});
    const meta = snapshot.meta as unknown as PostgresPhysicalMeta;
    assert.deepEqual(meta.table_activity, { 'public.items': { ins: 1000, upd: 100, del: 10, live: 990 } });
    assert.equal(meta.stats_reset, null, 'a new cluster: never reset');
    assert.ok(!meta.warnings.some((w) => w.includes('table activity')), meta.warnings.join('\n'));
  });
});
